"""Callbacks, one module per page (plus the shared state). Each module has
``register(app, ctx)``; callbacks stay thin: inputs -> library -> figure."""
