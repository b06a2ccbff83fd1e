"""The one integer check: what it accepts, what it refuses, and what the message says."""

from __future__ import annotations

import numpy as np
import pytest

from aquaembed._validate import integer, positive_int
from aquaembed.errors import ParameterError


def test_accepts_python_and_numpy_integers_within_bounds() -> None:
    assert integer(3, "k") == 3 and type(integer(np.int32(3), "k")) is int
    assert integer(0, "offset", low=0) == 0 and integer(10, "k", low=1, high=10) == 10
    assert positive_int(1, "workers") == 1
    assert positive_int(" 7 ", "port", parse=True) == 7


@pytest.mark.parametrize(
    ("value", "kw", "message"),
    [
        (0, {"low": 1}, "k: expected a positive integer, got 0"),
        (True, {"low": 1}, "k: expected a positive integer, got True"),
        (2.0, {}, "k: expected an integer, got 2.0"),
        ("3", {}, "k: expected an integer, got '3'"),  # strings only with parse=True
        (11, {"low": 1, "high": 10}, "k: expected an integer in [1, 10], got 11"),
        (-1, {"low": 0}, "k: expected an integer >= 0, got -1"),
        (5, {"high": 4}, "k: expected an integer <= 4, got 5"),
        (None, {"low": 1}, "k: expected a positive integer, got None"),
    ],
)
def test_refuses_with_one_line_naming_the_parameter(value: object, kw: dict, message: str) -> None:
    with pytest.raises(ParameterError) as err:
        integer(value, "k", **kw)
    assert str(err.value) == message and err.value.parameter == "k"


def test_an_unnamed_check_leaves_the_naming_to_the_caller() -> None:
    with pytest.raises(ParameterError) as err:
        positive_int("0", "", parse=True)
    assert str(err.value) == "expected a positive integer, got '0'" and err.value.parameter is None


def test_parse_refuses_what_is_not_a_decimal_integer() -> None:
    for text in ("1.5", "", "ten", "0"):
        with pytest.raises(ParameterError):
            positive_int(text, "--frames", parse=True)
