"""The request's stated error bounds decide which calls must raise, and which a model may not claim raise."""

from __future__ import annotations

from sdd_harness.graph.infra.error_bounds import stated_raise, value_calls
from sdd_harness.graph.infra.request_items import extract

REQUEST = (
    "Change `pkg/grid.py`:\n"
    "- `cells(rows, width=4)` must raise `ValueError` if `rows < 1` or `width < 1` "
    "(today `cells(0)` quietly returns `[]` and negative rows give garbage).\n"
    "- `area(count, width)` must raise `ValueError` if `width < 1` or `count < 0`, and must return `1` "
    "when `count == 0`, because an empty grid still has one cell.\n"
)


def test_an_aside_in_brackets_or_a_trailing_clause_is_not_a_bound():
    items = extract(REQUEST)
    assert stated_raise("cells(0)", items) == ("ValueError", True)
    assert stated_raise("cells(2)", items) == (None, True)  # no bound is broken: the call is fine
    assert stated_raise("cells(2, width=0)", items) == ("ValueError", True)
    assert stated_raise("area(0, 1)", items) == (None, True)  # the request says it returns, not raises
    assert stated_raise("area(-1, 1)", items) == ("ValueError", True)


def test_a_bound_the_code_cannot_read_leaves_the_call_undecided():
    items = extract("`scale(n)` raises `ValueError` if `n < 1` or the table is locked.")
    assert stated_raise("scale(3)", items) == (None, False)


def test_a_value_stated_for_one_parameter_becomes_a_call_with_plain_values_elsewhere():
    items = extract(REQUEST)
    assert value_calls(items) == [("area(0, 1)", "1", "return `1` when `count == 0`")]
    denied = extract("`area(count, width)` must not return `0` when `count == 0`.")
    assert value_calls(denied) == []
    bounded = extract("`area(count, width)` returns `1` when `count == 0`; it raises `ValueError` if `width < 5`.")
    assert value_calls(bounded) == []  # the plain value for width would break its bound
