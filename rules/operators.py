"""Operators: what values each accepts (checked once, at config time) and its test.

Tests never raise: a field that holds the wrong kind of value for an operator
(a number where text was expected, an attribute that is absent) fails the
condition. On a list (``tags``, or a list-valued attribute) an operator asks
whether SOME element passes; ``not_equals``/``not_in`` whether NONE does;
``is_set``/``not_set`` look at the list itself.

``matches`` uses RE2, whose run time is linear in the input, with a cap on the
pattern's length and on how much of the input is searched: no rule can stall a
worker with catastrophic backtracking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

from rules.vocabulary import NO_VALUE_OPS, Kind

#: Longest ``matches`` pattern accepted (characters).
MAX_PATTERN_CHARS = 1000
#: ``matches`` searches at most this many leading characters of the field.
MAX_MATCH_INPUT_CHARS = 10_000
#: Longest list a condition value may hold (``in`` over thousands of values is
#: better split across indexed rules; this bounds the config's size too).
MAX_VALUES = 10_000

Test = Callable[[Any], bool]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors are reported as config problems, not on stderr
_RE2_OPTIONS.never_capture = True  # a condition needs yes or no, never the groups


def compile_pattern(pattern: str) -> Any:
    """RE2-compile ``pattern``; ValueError with RE2's reason if it is not valid."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"pattern of {len(pattern)} characters > limit {MAX_PATTERN_CHARS}")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression {pattern!r}: {reason}") from None


def searcher(pattern: str) -> Callable[[str], bool]:
    """Whether ``pattern`` occurs in a text.

    Calls the compiled RE2 program directly when this google-re2 version exposes
    it: the public ``search`` builds a match object with character offsets, which
    costs several times the search itself on short fields (``tests`` compare both).
    """
    compiled = compile_pattern(pattern)
    program = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None)
    if program is None or anchor is None:
        return lambda text: compiled.search(text) is not None
    match, unanchored = program.Match, anchor.UNANCHORED

    def found(text: str) -> bool:
        data = text.encode("utf-8", "replace")
        return bool(match(unanchored, data, 0, len(data))[0][0] != -1)

    return found


def _is_number(x: Any) -> bool:
    return type(x) is int or type(x) is float


def _scalar_problem(kind: Kind, v: Any) -> str | None:
    if kind in ("text", "list"):
        return None if isinstance(v, str) else f"expected text, got {_describe(v)}"
    if kind == "int":
        return None if type(v) is int else f"expected a whole number, got {_describe(v)}"
    if kind == "number":
        return None if _is_number(v) else f"expected a number, got {_describe(v)}"
    if kind == "bool":
        return None if isinstance(v, bool) else f"expected true or false, got {_describe(v)}"
    if isinstance(v, str | bool) or _is_number(v):
        return None
    return f"expected text, a number or true/false, got {_describe(v)}"


def _describe(v: Any) -> str:
    if v is None:
        return "nothing"
    if hasattr(v, "isoformat"):
        return f"the date {v} (quote it to compare text)"
    return f"{type(v).__name__} {v!r}"[:120]


def value_problem(op: str, kind: Kind, value: Any, given: bool) -> str | None:
    """What is wrong with ``value`` for ``op`` on a field of ``kind``, or None."""
    if op in NO_VALUE_OPS:
        return f"{op} takes no value" if given else None
    if not given:
        return f"{op} needs a value"
    if op in ("equals", "not_equals"):
        return _scalar_problem(kind, value)
    if op in ("in", "not_in"):
        values = value if isinstance(value, list) else [value]
        if not values:
            return f"{op} needs at least one value"
        if len(values) > MAX_VALUES:
            return f"{len(values)} values > limit {MAX_VALUES}"
        return next((p for v in values if (p := _scalar_problem(kind, v))), None)
    if op in ("contains", "starts_with", "ends_with"):
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            return "expected non-empty text or a list of it"
        return None
    if op == "matches":
        if not isinstance(value, str) or not value:
            return f"expected a regular expression, got {_describe(value)}"
        try:
            compile_pattern(value)
        except ValueError as exc:
            return str(exc)
        return None
    if op in ("gt", "lt", "gte", "lte"):
        return None if _is_number(value) else f"expected a number, got {_describe(value)}"
    if op in ("within_hours", "outside_hours"):
        return (
            None if isinstance(value, str) and value else "expected a department or calendar name"
        )
    return f"unknown operator {op!r}"


def _key(x: Any) -> tuple[str, Any] | None:
    """Equality that keeps true apart from 1 (Python's ``True == 1`` is no help here)."""
    t = type(x)
    if t is str:
        return ("s", x)
    if t is bool:
        return ("b", x)
    if t is int or t is float:
        return ("n", x)
    return None


def _empty(x: Any) -> bool:
    return x is None or x is False or x == "" or (isinstance(x, list | tuple | dict) and not x)


def _scalar_test(op: str, value: Any) -> Test:
    if op == "equals":
        want = _key(value)
        if type(value) is str:
            return lambda x: x == value
        return lambda x: _key(x) == want
    if op == "in":
        values = value if isinstance(value, list) else [value]
        if all(type(v) is str for v in values):
            strs = frozenset(values)
            return lambda x: type(x) is str and x in strs
        keys = frozenset(_key(v) for v in values)
        return lambda x: _key(x) in keys
    if op == "contains":
        folded = tuple(v.casefold() for v in (value if isinstance(value, list) else [value]))
        return lambda x: type(x) is str and any(f in x.casefold() for f in folded)
    if op == "starts_with":
        prefixes = tuple(value if isinstance(value, list) else [value])
        return lambda x: type(x) is str and x.startswith(prefixes)
    if op == "ends_with":
        suffixes = tuple(value if isinstance(value, list) else [value])
        return lambda x: type(x) is str and x.endswith(suffixes)
    if op == "matches":
        found = searcher(value)
        return lambda x: type(x) is str and found(x[:MAX_MATCH_INPUT_CHARS])
    if op == "gt":
        return lambda x: _is_number(x) and x > value
    if op == "lt":
        return lambda x: _is_number(x) and x < value
    if op == "gte":
        return lambda x: _is_number(x) and x >= value
    if op == "lte":
        return lambda x: _is_number(x) and x <= value
    raise ValueError(f"unknown operator {op!r}")


_NEGATED = {"not_equals": "equals", "not_in": "in"}
_ELEMENTWISE = frozenset(("equals", "in", "contains", "starts_with", "ends_with", "matches"))


def make_test(op: str, kind: Kind, value: Any) -> Test:
    """The test of one checked condition (see :func:`value_problem`) on the field's value."""
    if op == "is_set":
        return lambda x: not _empty(x)
    if op == "not_set":
        return _empty
    positive = _NEGATED.get(op, op)
    test = _scalar_test(positive, value)
    if positive in _ELEMENTWISE and kind != "text":
        scalar = test

        def test(x: Any) -> bool:
            if isinstance(x, list | tuple):
                return any(scalar(e) for e in x)
            return scalar(x)

    if op in _NEGATED:
        inner = test
        return lambda x: not inner(x)
    return test
