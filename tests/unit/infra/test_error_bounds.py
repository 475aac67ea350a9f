"""The request's stated error bounds decide which calls must raise, and which a model may not claim raise."""

from __future__ import annotations

from sdd_harness.graph.infra.error_bounds import error_calls, stated_error_calls, stated_raise, value_calls
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


def calls_of(request: str) -> list[str]:
    items = extract(request)
    return [call for error in items.errors for call in stated_error_calls(error, items)]


def test_the_inputs_an_error_sentence_lists_become_calls_that_must_raise() -> None:
    request = (
        'Add `parse_size(text: str) -> int` to `units/size.py`: `parse_size("2k") == 2048`.\n'
        'Malformed text raises `SizeError`, e.g.\n`"12q"`, `"k"` and `""`; so does a negative size (`"-1k"`).'
    )
    assert calls_of(request) == ['parse_size("12q")', 'parse_size("k")', 'parse_size("")', 'parse_size("-1k")']
    assert ('parse_size("k")', "SizeError", '`parse_size("k")` in the request') in error_calls(extract(request))


def test_a_call_written_out_before_raises_is_one_too_but_not_what_today_does_or_an_aside_corrects() -> None:
    request = (
        'Change `to_slug(text)` in `web/slug.py`: `to_slug("")` raises `ValueError` (today `"-"`).\n'
        'A title with no letters raises `ValueError` as well: `"!!"` (the nearest good one is `"a!"`).'
    )
    assert calls_of(request) == ['to_slug("")', 'to_slug("!!")']


def test_bare_inputs_need_the_one_function_they_go_to() -> None:
    two = "Add `area(side: int)` and `perimeter(side: int)` to `geo.py`. Bad input raises `ValueError`: `-1`, `0`."
    assert calls_of(two) == []  # which function? the sentence does not say
    named = "Add `area(side: int)` and `perimeter(side: int)` to `geo.py`. `area` raises `ValueError` for `-1`, `None`."
    assert calls_of(named) == ["area(-1)"]  # None, True and False read as words here, not inputs
