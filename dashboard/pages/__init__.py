"""One module per page, each holding its layout (``layout(ctx)``); the shell holds the
header shared by every page."""
