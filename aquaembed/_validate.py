"""The one place for the integer checks every option needs.

Messages state the constraint and the value received, and the error carries the
parameter's name.
"""

from __future__ import annotations

from typing import Any

from aquaembed.errors import ParameterError

__all__ = ["integer", "positive_int"]


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None, parse: bool = False) -> int:
    """``value`` as an ``int`` within ``[low, high]`` (either bound optional).

    Parameters
    ----------
    value : int, numpy integer, or (with ``parse``) str
        ``bool`` is refused (``True`` is not a count).
    name : str
        The parameter, for the message and :attr:`ParameterError.parameter` (``""`` where
        the caller names it itself, as argparse does).
    low, high : int, optional
        Inclusive bounds.
    parse : bool, default False
        Accept a decimal string (command-line and query values).

    Raises
    ------
    ParameterError
        When ``value`` is not an integer or lies outside the bounds.
    """
    if low is not None and high is not None:
        want = f"an integer in [{low}, {high}]"
    elif low is not None:
        want = "a positive integer" if low == 1 else f"an integer >= {low}"
    elif high is not None:
        want = f"an integer <= {high}"
    else:
        want = "an integer"
    v: int | None = None
    if parse and isinstance(value, str):
        try:
            v = int(value.strip())
        except ValueError:
            v = None
    elif not isinstance(value, bool) and hasattr(value, "__index__"):
        v = value.__index__()
    if v is None or (low is not None and v < low) or (high is not None and v > high):
        prefix = f"{name}: " if name else ""
        raise ParameterError(f"{prefix}expected {want}, got {value!r}", parameter=name or None)
    return v


def positive_int(value: Any, name: str, *, parse: bool = False) -> int:
    """``value`` as an ``int >= 1`` (see :func:`integer`)."""
    return integer(value, name, low=1, parse=parse)
