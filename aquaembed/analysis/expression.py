"""A small, safe filter language over per-frame columns (no ``eval``).

Grammar (keywords are case-sensitive)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | atom
    atom    := "(" expr ")" | value OP value | value "in" "[" literal ("," literal)* "]"
    value   := FIELD | literal
    literal := NUMBER | STRING ('..' or "..") | true | false
    OP      := == != < <= > >=

``FIELD`` is a column name (metadata fields, per-frame metrics such as ``f1``, scalar
metrics). Text columns compare as text (``==``, ``!=``, ``in`` only); numeric columns
compare as numbers; a comparison with an undefined value (NaN) is false. Example:
``scene == "plaza_crossing" and f1 <= 0.5``.

:func:`evaluate_expression` returns a boolean mask; a bad expression raises one
:class:`~aquaembed.errors.ParameterError` naming the token and its position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquaembed.errors import ParameterError

__all__ = ["evaluate_expression", "tokenize"]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<op>==|!=|<=|>=|<|>)|(?P<punct>[()\[\],])|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))"
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, op, punct, name, kw, end
    text: str
    pos: int


def _fail(tok: Token, why: str) -> ParameterError:
    shown = "end of expression" if tok.kind == "end" else repr(tok.text)
    return ParameterError(f"where: {why} at {shown} (position {tok.pos + 1})", parameter="where")


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; an unknown character is a ParameterError naming it."""
    if not isinstance(text, str) or not text.strip():
        raise ParameterError("where: an empty expression", parameter="where")
    if len(text) > 2000:
        raise ParameterError("where: the expression is longer than 2000 characters", parameter="where")
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise _fail(Token("bad", text[start], start), "unexpected character")
        kind = m.lastgroup or "bad"
        val = m.group(kind)
        start = m.start(kind)
        if kind == "name" and val in _KEYWORDS:
            kind = "kw"
        out.append(Token(kind, val, start))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, tokens: list[Token], columns: Mapping[str, np.ndarray], n: int) -> None:
        self.t, self.i, self.cols, self.n = tokens, 0, columns, n
        self.depth = 0

    @property
    def cur(self) -> Token:
        return self.t[self.i]

    def take(self) -> Token:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expr(self) -> np.ndarray:
        self.depth += 1
        if self.depth > 50:
            raise _fail(self.cur, "nested too deeply")
        out = self.conj()
        while self.cur.kind == "kw" and self.cur.text == "or":
            self.take()
            out = out | self.conj()
        self.depth -= 1
        return out

    def conj(self) -> np.ndarray:
        out = self.neg()
        while self.cur.kind == "kw" and self.cur.text == "and":
            self.take()
            out = out & self.neg()
        return out

    def neg(self) -> np.ndarray:
        if self.cur.kind == "kw" and self.cur.text == "not":
            self.take()
            return ~self.neg()
        return self.atom()

    def atom(self) -> np.ndarray:
        if self.cur.kind == "punct" and self.cur.text == "(":
            self.take()
            out = self.expr()
            if not (self.cur.kind == "punct" and self.cur.text == ")"):
                raise _fail(self.cur, "expected ')'")
            self.take()
            return out
        left_tok = self.cur
        left = self.value()
        if self.cur.kind == "kw" and self.cur.text == "in":
            self.take()
            return self.membership(left_tok, left)
        if self.cur.kind != "op":
            raise _fail(self.cur, "expected a comparison (==, !=, <, <=, >, >=, in)")
        op = self.take()
        right_tok = self.cur
        right = self.value()
        if left_tok.kind == "name" and right_tok.kind == "name":
            pass
        elif left_tok.kind != "name" and right_tok.kind != "name":
            raise _fail(left_tok, "a comparison needs a field on one side")
        return _compare(left, op, right, left_tok if left_tok.kind == "name" else right_tok)

    def membership(self, tok: Token, left: Any) -> np.ndarray:
        if tok.kind != "name":
            raise _fail(tok, "'in' needs a field on its left")
        if not (self.cur.kind == "punct" and self.cur.text == "["):
            raise _fail(self.cur, "expected '[' after 'in'")
        self.take()
        out = np.zeros(self.n, dtype=bool)
        while True:
            lit_tok = self.cur
            if lit_tok.kind == "name":
                raise _fail(lit_tok, "a list holds literals, not fields")
            lit = self.value()
            out |= _compare(left, Token("op", "==", lit_tok.pos), lit, tok)
            if self.cur.kind == "punct" and self.cur.text == ",":
                self.take()
                continue
            if self.cur.kind == "punct" and self.cur.text == "]":
                self.take()
                return out
            raise _fail(self.cur, "expected ',' or ']'")

    def value(self) -> Any:
        tok = self.take()
        if tok.kind == "num":
            return float(tok.text)
        if tok.kind == "str":
            return tok.text[1:-1]
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return tok.text == "true"
        if tok.kind == "name":
            if tok.text not in self.cols:
                known = ", ".join(sorted(self.cols))
                raise _fail(tok, f"unknown field (known: {known})"[:300])
            return np.asarray(self.cols[tok.text])
        raise _fail(tok, "expected a field or a value")


def _compare(left: Any, op: Token, right: Any, where: Token) -> np.ndarray:
    l_arr, r_arr = np.asarray(left), np.asarray(right)
    text = l_arr.dtype.kind in "OUS" or r_arr.dtype.kind in "OUS"
    if text:
        if op.text not in ("==", "!="):
            raise _fail(op, "text compares only with ==, != or in")
        if l_arr.dtype.kind not in "OUS" or r_arr.dtype.kind not in "OUS":
            raise _fail(where, "compares text with a number")
        eq = l_arr.astype(str) == r_arr.astype(str)
        return eq if op.text == "==" else ~eq
    try:
        a, b = l_arr.astype(np.float64), r_arr.astype(np.float64)
    except (TypeError, ValueError):
        raise _fail(where, "is not numeric") from None
    with np.errstate(invalid="ignore"):
        res = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op.text]
    defined = ~(np.isnan(a) | np.isnan(b))
    return np.asarray(res & defined, dtype=bool)


def evaluate_expression(text: str, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The frames an expression selects.

    Parameters
    ----------
    text : str
    columns : mapping of field name to array, each shape (n,)
    n : int
        Number of frames.

    Returns
    -------
    bool array, shape (n,)
    """
    p = _Parser(tokenize(text), columns, n)
    out = p.expr()
    if p.cur.kind != "end":
        raise _fail(p.cur, "unexpected token")
    return np.broadcast_to(np.asarray(out, dtype=bool), (n,)).copy()
