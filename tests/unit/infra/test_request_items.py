"""What `extract` reads from a change request without a model: the callables it names (with signatures and
owners), each error case, each worked example and each re-export — and nothing the request does not ask for.

The requests are invented here, in several styles (bullets, prose, numbered steps, code spans), so no test
leans on the wording of a bundled example task."""

from __future__ import annotations

import pytest

from sdd_harness.graph.infra.request_items import extract

# ------------------------------------------------------------------------------------------ callables


def test_signatures_come_from_code_spans_and_keep_their_text() -> None:
    items = extract(
        "Add `wrap(text: str, width: int = 80) -> list[str]` to `textwrapper/core.py`.\n"
        "- `chunk(items, size)` splits a list into pieces.\n"
        "- Use `len(text)` and check it with `chunk([1, 2, 3], 2)`.\n"
    )
    assert [(c.name, c.signature, c.owner) for c in items.callables] == [
        ("wrap", "wrap(text: str, width: int = 80) -> list[str]", ""),
        ("chunk", "chunk(items, size)", ""),
    ]  # a call with values (`chunk([1, 2, 3], 2)`) and a builtin (`len(text)`) declare nothing
    assert items.names() == ["wrap", "chunk"]


def test_methods_listed_under_a_class_belong_to_it() -> None:
    items = extract(
        "Add a class `Stack` in `collections2/stack.py`:\n"
        "- `push(item) -> None` puts an item on top;\n"
        "- `pop()` removes and returns the top item.\n"
    )
    owners = {c.name: c.owner for c in items.callables}
    assert owners == {"Stack": "", "push": "Stack", "pop": "Stack"}


def test_a_helper_function_or_one_named_before_the_class_is_not_a_method() -> None:
    items = extract(
        "Keep `load_books(path)` as it is. Add class `Library` with `lend(title)` and a helper function "
        "`library_from_rows(rows)`."
    )
    owners = {c.name: c.owner for c in items.callables}
    assert owners == {"load_books": "", "lend": "Library", "library_from_rows": "", "Library": ""}


def test_a_dotted_method_span_names_the_method_and_its_class() -> None:
    items = extract("`Playlist.remove(track)` must raise `ValueError` when the track is not in it.")
    assert [(c.name, c.owner) for c in items.callables] == [("remove", "Playlist"), ("Playlist", "")]
    assert items.errors[0].exception == "ValueError"
    assert "remove" in items.errors[0].names


@pytest.mark.parametrize(
    "request_text",
    [
        "Make the README friendlier and fix the typos in the docs.",
        "Speed up the import of the package; nothing else changes. Keep the tests green.",
        "Run `pytest -q` and `python -m build` before you push; see `config.yaml`.",
        "Errors are logged, not raised. Values like 3 -> 4 are fine.",
    ],
)
def test_a_request_without_concrete_items_yields_none(request_text: str) -> None:
    items = extract(request_text)
    assert (items.callables, items.errors, items.examples, items.reexports) == ([], [], [], [])


# ------------------------------------------------------------------------------------------ error cases


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("Add `roman(n: int) -> str`. A number below 1 raises `ValueError`.", ["ValueError"]),
        ("1. Add `initials(name)`.\n2. Raise `TypeError` if `name` is not a string.", ["TypeError"]),
        ("`percent(part, whole)` should throw ZeroDivisionError when `whole` is 0.", ["ZeroDivisionError"]),
        ("Add `leap_year(year)`. A `ValueError` is raised for years before 1582.", ["ValueError"]),
        (
            "`lookup(table, key)` raises KeyError for a missing key. It raises TypeError for a list.",
            ["KeyError", "TypeError"],
        ),
        ("`lookup(table, key)` must not raise `KeyError`; it returns `None` instead.", []),
        ("`lookup(table, key)` never raises KeyError.", []),
        ("`lookup(table, key)` doesn't raise on a missing key.", []),
        ("Change `lookup(table, key)` to return None instead of raising KeyError.", []),
        ("Today `lookup(table, key)` raises KeyError; it should return the default.", []),
        ("Instead of returning None, `lookup(table, key)` raises `LookupError`.", ["LookupError"]),
    ],
)
def test_error_cases_are_the_exception_after_raise_and_only_asserted_ones(
    request_text: str, expected: list[str]
) -> None:
    assert [e.exception for e in extract(request_text).errors] == expected


def test_an_error_case_keeps_its_sentence_and_the_callables_it_names() -> None:
    items = extract("Add `encode(text)` and `decode(blob)` to `codec.py`.\nBoth raise `TypeError` for a non-string.")
    (error,) = items.errors
    assert error.when == "Both raise `TypeError` for a non-string."
    assert error.names == ["encode", "decode"]  # "both" means every function the request names


def test_an_error_sentence_that_names_one_callable_is_tied_to_it() -> None:
    items = extract("- `area(w, h)` raises `ValueError` for a negative side.\n- `perimeter(w, h)` returns a float.\n")
    assert [(e.exception, e.names) for e in items.errors] == [("ValueError", ["area"])]


def test_a_second_condition_joined_by_so_does_is_an_error_case_of_its_own() -> None:
    request = (
        "Change `clip(lo, hi)` in `pkg/span.py`: `lo` above `hi` raises `ValueError`, and so does a negative `lo`."
    )
    first, second = extract(request).errors
    assert first.when.endswith("`lo` above `hi` raises `ValueError`")
    assert second.when == "a negative `lo` (raises `ValueError` too)"
    assert first.names == second.names == ["clip"]


# ------------------------------------------------------------------------------------------ worked examples


def pairs(request_text: str) -> list[tuple[str, str]]:
    return [(x.call, x.expect) for x in extract(request_text).examples]


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        (
            'Add `roman(n: int) -> str`: `roman(4) == "IV"` and `roman(1990) == "MCMXC"`.',
            [("roman(4)", '"IV"'), ("roman(1990)", '"MCMXC"')],
        ),
        ('- `initials("Ada King")` gives `"AK"`', [('initials("Ada King")', '"AK"')]),
        ('- `initials("Ada King")` → `"AK"`', [('initials("Ada King")', '"AK"')]),
        (  # a bare value beside the only function the request names is that function's argument
            'Add `word_count(text: str) -> int`; it turns `"a b  c"` into `3`.',
            [('word_count("a b  c")', "3")],
        ),
        (
            "- `percent(part: float, whole: float) -> float` (e.g. 1 -> 2.0, 3 -> 4.5)",
            [("percent(1)", "2.0"), ("percent(3)", "4.5")],
        ),
        (
            "- `percent(part: float, whole: float) -> float`, e.g. 1 -> 2.0 and 3 -> 4.5",
            [("percent(1)", "2.0"), ("percent(3)", "4.5")],
        ),
        (  # a truth value or None stated with `is`, as Python code says it
            'Change `is_palindrome(text)`: `is_palindrome("A man") is False`, `is_palindrome("Aba") is True`.',
            [('is_palindrome("A man")', "False"), ('is_palindrome("Aba")', "True")],
        ),
        ("- `find(items, 9) is None` is not a value: `find([1], 9) is None`", [("find([1], 9)", "None")]),
    ],
)
def test_worked_examples_in_several_styles(request_text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(request_text) == expected


@pytest.mark.parametrize(
    "request_text",
    [
        'Change `roman(n)`: today `roman(0)` returns `""`, it should raise `ValueError`.',
        'Currently `roman(4) == "IIII"`; use subtractive notation.',
        'Fix `word_count(text)`; it currently turns `"a  b"` into `3`.',
        "Add `wrap(text, width=80)`. The default `width` is `80`.",  # a parameter's default, not a call
        "Add `wrap(text, width)`; `len(lines) == 3` for a long text.",  # placeholders, not values
        "The result of `word_count(text)` is `int`.",  # a signature, not a worked example
    ],
)
def test_old_behaviour_defaults_and_placeholders_are_not_examples(request_text: str) -> None:
    assert pairs(request_text) == []


def test_an_example_after_a_colon_shows_the_new_behaviour_the_clause_names() -> None:
    request_text = "- the input no longer has to be sorted: `dedupe([3, 1, 3]) == [1, 3]` (the order is ascending)."
    assert pairs(request_text) == [("dedupe([3, 1, 3])", "[1, 3]")]
    assert pairs("Fix `dedupe(xs)`: it no longer gives `dedupe([1, 1]) == [1, 1]`.") == []  # old, after the colon


def test_an_aside_about_today_does_not_swallow_the_example_after_it() -> None:
    request_text = '- `roman(9) == "IX"` (today `"VIIII"`) and `roman(40) == "XL"`.'
    assert pairs(request_text) == [("roman(9)", '"IX"'), ("roman(40)", '"XL"')]


# ------------------------------------------------------------------------------------------ re-exports


def test_an_input_the_request_equates_with_another_shares_its_example() -> None:
    items = extract(
        'Add `decode(code: str) -> int`: `decode("0x1F")` returns `31`. The short form `"x1F"` means `"0x1F"`; '
        '`"0X1F"` is the same as `"0x1F"`, and `\'q\'` means `"quit"` (no example for it).'
    )
    assert [(e.call, e.expect) for e in items.examples] == [
        ('decode("0x1F")', "31"),
        ('decode("x1F")', "31"),
        ('decode("0X1F")', "31"),
    ]


def test_a_reexport_from_an_init_file_with_all() -> None:
    items = extract(
        "Add `roman(n)` and `arabic(text)` in `numerals/convert.py`.\n"
        "Re-export both from `numerals/__init__.py` and add them to `__all__`."
    )
    assert [(r.package, r.names, r.all_list) for r in items.reexports] == [("numerals", ["roman", "arabic"], True)]


def test_a_word_in_prose_is_not_a_name_to_re_export_and_a_method_call_alone_is_no_example() -> None:
    items = extract(
        "Add a class `Tally` in `pkg/tally.py`:\n- `add(item: str) -> None` counts one item.\n"
        "- `top(n: int) -> list[str]`: after `add('a')`, `top(1) == ['a']`.\n"
        "Re-export `Tally` from `pkg/__init__.py` and add it to `__all__`."
    )
    assert [(r.package, r.names) for r in items.reexports] == [("pkg", ["Tally"])]
    assert items.examples == []  # `top(1)` is a method's result on an object the request set up in prose
    helper = extract("Add `make_tally(size: int)` in `pkg/tally.py`. Re-export make_tally from `pkg/__init__.py`.")
    assert [r.names for r in helper.reexports] == [["make_tally"]]  # a name with `_` is code even in prose


def test_a_reexport_written_as_an_import_takes_every_name_it_imports() -> None:
    items = extract("Users should be able to write `from shapes import Circle, Square`. Add class `Circle`.")
    assert [(r.package, r.names, r.all_list) for r in items.reexports] == [("shapes", ["Circle", "Square"], False)]


def test_an_exception_class_can_be_reexported() -> None:
    items = extract(
        "`parse_date(text)` raises `BadDateError`, defined in `cal/dates.py`.\n"
        "Export `BadDateError` from `cal/__init__.py`."
    )
    assert [(r.package, r.names) for r in items.reexports] == [("cal", ["BadDateError"])]
    assert [e.exception for e in items.errors] == ["BadDateError"]


def test_a_plain_import_mention_without_names_exports_nothing() -> None:
    assert extract("The tests import the package with `import numerals`.").reexports == []


def test_a_new_exception_class_is_read_with_its_base_and_file() -> None:
    items = extract(
        "`parse_date(text)` raises a new exception `BadDateError`, defined in `cal/dates.py` as a subclass of "
        "`ValueError`.\nRe-export `BadDateError` from `cal/__init__.py` and add it to `__all__`."
    )
    assert [(e.name, e.base, e.path) for e in items.new_exceptions] == [("BadDateError", "ValueError", "cal/dates.py")]
    assert items.new_exceptions[0].raised_for == "parse_date(text)"


def test_a_new_exception_written_with_its_base_in_brackets_is_read() -> None:
    items = extract("- add an exception class `OutOfStock(LookupError)` in `shop/stock.py` with an attribute `sku`.")
    assert [(e.name, e.base, e.path) for e in items.new_exceptions] == [("OutOfStock", "LookupError", "shop/stock.py")]


def test_new_exception_classes_in_other_words() -> None:
    both = extract("Define `TooBigError` and `TooSmallError` in `pkg/limits.py`, both subclasses of `ValueError`.")
    assert [(e.name, e.base) for e in both.new_exceptions] == [
        ("TooBigError", "ValueError"),
        ("TooSmallError", "ValueError"),
    ]
    spelled = extract("Add `class ParseError(LookupError):` to `cfg/errors.py`.")
    assert [(e.name, e.base, e.path) for e in spelled.new_exceptions] == [
        ("ParseError", "LookupError", "cfg/errors.py")
    ]
    before = extract("Add a new `EmptyError`, a `LookupError` subclass, to `pkg/queue.py`.")
    assert [(e.name, e.base) for e in before.new_exceptions] == [("EmptyError", "LookupError")]
    bare = extract("Empty input raises a new `NoDataError`. Change `mean(xs)` in `stats/core.py`.")
    assert [(e.name, e.base, e.path) for e in bare.new_exceptions] == [("NoDataError", "Exception", "stats/core.py")]


def test_an_exception_that_exists_or_is_only_reexported_or_raised_is_no_new_class() -> None:
    assert extract("`load(path)` raises `ConfigError` (already defined in `cfg/errors.py`).").new_exceptions == []
    assert extract("Re-export `ConfigError` from `cfg/__init__.py` and add it to `__all__`.").new_exceptions == []
    assert extract("`f(x)` in `pkg/x.py` raises `ValueError` for a new negative input.").new_exceptions == []
    two_files = extract("`a(x)` in `pkg/a.py` and `b(x)` in `pkg/b.py` raise a new `OddError`.")
    assert two_files.new_exceptions == []  # which file? the request does not say: nothing is guessed
