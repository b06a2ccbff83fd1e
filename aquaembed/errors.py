"""The exception hierarchy of aquaembed.

Every error the library raises on purpose derives from :class:`AquaembedError`, so
callers (the CLI, the service) can turn them into one-line messages or HTTP errors
without ever showing a traceback. Errors about one option or argument carry its name
in :attr:`AquaembedError.parameter`.
"""

from __future__ import annotations

__all__ = [
    "AquaembedError",
    "ConflictError",
    "InputError",
    "ParameterError",
    "NotFoundError",
    "StoreError",
    "MissingExtraError",
]


class AquaembedError(Exception):
    """Base class of every error aquaembed raises deliberately.

    Parameters
    ----------
    message : str
        One line for a person.
    parameter : str, optional
        The option, argument or file the error is about.
    """

    def __init__(self, message: str = "", *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class InputError(AquaembedError, ValueError):
    """A user-supplied file or array is malformed.

    The message names the file (or argument) and the offending entry.
    """


class ParameterError(AquaembedError, ValueError):
    """An option is outside its allowed range or set of values.

    The message names the parameter, the constraint and the value received.
    """


class NotFoundError(AquaembedError, LookupError):
    """A named thing (dataset, inference set, class, id) does not exist."""


class StoreError(AquaembedError, OSError):
    """The on-disk store is unreadable, inconsistent or cannot be written."""


class MissingExtraError(AquaembedError, ImportError):
    """An optional capability was asked for without its extra installed.

    The message is one line naming the extra, e.g. ``pip install 'aquaembed[app]'``.
    """


class ConflictError(StoreError):
    """A stored artefact does not match the tables or embeddings it is served with (HTTP 409)."""
