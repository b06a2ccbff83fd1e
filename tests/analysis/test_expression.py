"""The scenario filter language: hand-worked cases, a brute-force property, refusals naming the token."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.analysis.expression import evaluate_expression
from aquaembed.errors import ParameterError

COLS = {
    "scene": np.array(["reef", "harbour", "reef", "open water"], dtype=object),
    "f1": np.array([0.2, np.nan, 0.9, 0.5]),
    "night": np.array([True, False, False, True]),
    "camera": np.array([0, 1, 0, 1]),
}


@pytest.mark.parametrize("expr, want", [
    ('scene == "reef" and f1 <= 0.5', [True, False, False, False]),
    ("f1 > 0.1", [True, False, True, True]),           # NaN compares false
    ("not f1 > 0.1", [False, True, False, False]),
    ("scene in ['reef', 'open water'] or camera == 1", [True, True, True, True]),
    ("(night == true or camera != 0) and not scene == 'harbour'", [True, False, False, True]),
    ("0.5 >= f1", [True, False, False, True]),
    ("f1 < camera", [False, False, False, True]),
])
def test_hand_worked(expr: str, want: list[bool]) -> None:
    assert evaluate_expression(expr, COLS, 4).tolist() == want


@pytest.mark.parametrize("expr, token", [
    ("scene = 'reef'", "'='"), ("f1 <=", "end of expression"), ("depth > 3", "'depth'"),
    ("scene < 'a'", "'<'"), ("f1 > 1 )", "')'"), ("scene == 1", "'scene'"), ("f1 > 0.5 @", "'@'"),
    ("(f1 > 0.5", "end of expression"), ("f1 in [camera]", "'camera'"), ("", "empty"),
    ("__import__('os') == 1", "'__import__'"),
])
def test_refusals_name_the_token(expr: str, token: str) -> None:
    with pytest.raises(ParameterError) as exc:
        evaluate_expression(expr, COLS, 4)
    assert token in str(exc.value) and "\n" not in str(exc.value)


@given(st.lists(st.one_of(st.floats(-5, 5), st.just(float("nan"))), min_size=1, max_size=30), st.floats(-5, 5),
       st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_comparisons_match_brute_force(values: list[float], bound: float, op: str) -> None:
    x = np.asarray(values)
    got = evaluate_expression(f"x {op} {bound!r}", {"x": x}, x.size)
    ops = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    want = [(v == v) and ops[op](v, bound) for v in values]
    assert got.tolist() == want
