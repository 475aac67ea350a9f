"""Code that passes a scenario test by special-casing its input is not code that passes it.

Pressed by a failing test, a small model's repair can write ``if text.lower() == "mcmxciv": return 1994``: the
test goes green, the behaviour stays wrong (seen in a real run, where that candidate beat the general ones
on the contract and was written). A test counts as passed only when the code does not compare an argument of
the scenario's call with that very value and return the scenario's expected value right there. Trivial
values (empty, single characters, 0, 1, -1, None, booleans) are left alone: ``if not text: return []`` is an
edge case, not a lookup.
"""

from __future__ import annotations

import ast
from typing import Any

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.pyparse import parse_python


def special_cased(files: dict[str, str], examples: dict[str, Example]) -> set[str]:
    """The tests of ``examples`` (test id -> its scenario) whose input and expected value the code of ``files``
    writes out as a lookup: ``if <argument> == <the call's value>: return <the expected value>``."""
    branches = [node for text in _python(files) for node in ast.walk(text) if isinstance(node, ast.If)]
    if not branches:
        return set()
    found = set()
    for test, example in examples.items():
        inputs, expected = _inputs(example), _value(example.expect)
        if not inputs or not _telling(expected):
            continue
        if any(_compares_with(branch.test, inputs) and _returns(branch.body, expected) for branch in branches):
            found.add(test)
    return found


def _python(files: dict[str, str]) -> list[ast.Module]:
    trees = []
    for rel, text in files.items():
        if rel.endswith(".py"):
            try:
                trees.append(parse_python(text))
            except SyntaxError:
                continue
    return trees


_MISSING = object()


def _value(expression: str | None) -> Any:
    if expression is None:
        return _MISSING
    try:
        return ast.literal_eval(expression)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


def _telling(value: Any) -> bool:
    """A value no general rule would write as a constant by chance: not empty, not 0/1/-1, not a flag."""
    if value is _MISSING or value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value not in (0, 1, -1)
    if isinstance(value, str):
        return len(value) > 1
    return bool(value)


def _inputs(example: Example) -> list[Any]:
    """The telling literal arguments of the scenario's call (strings also lower- and upper-cased)."""
    try:
        call = parse_python(example.call, mode="eval").body
    except SyntaxError:
        return []
    if not isinstance(call, ast.Call):
        return []
    values = [_value(ast.unparse(a)) for a in [*call.args, *(k.value for k in call.keywords)]]
    found: list[Any] = []
    for value in values:
        if _telling(value):
            found += [value, value.lower(), value.upper()] if isinstance(value, str) else [value]
    return found


def _compares_with(test: ast.expr, inputs: list[Any]) -> bool:
    """``test`` compares something with one of ``inputs`` (``==``, or ``in`` a literal collection of them)."""
    for node in ast.walk(test):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            value = _value(ast.unparse(side))
            members = value if isinstance(value, tuple | list | set | frozenset) else [value]
            if any(_same(member, wanted) for member in members for wanted in inputs):
                return True
    return False


def _returns(body: list[ast.stmt], expected: Any) -> bool:
    """A ``return`` among ``body``'s own statements gives ``expected`` as a literal."""
    return any(
        isinstance(statement, ast.Return)
        and statement.value is not None
        and _same(_value(ast.unparse(statement.value)), expected)
        for statement in body
    )


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING or isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - odd literals that refuse to compare are simply not the same
        return False
