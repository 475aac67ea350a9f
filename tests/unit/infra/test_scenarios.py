"""The request's own items become scenarios in code: here, each re-export it asks for."""

from __future__ import annotations

from pathlib import Path

from sdd_harness.graph.infra.contract import Example, render_test
from sdd_harness.graph.infra.modulemap import ModuleMap, class_members
from sdd_harness.graph.infra.pytest_examples import kept_examples
from sdd_harness.graph.infra.request_items import extract
from sdd_harness.graph.infra.scenarios import (
    ScenarioCase,
    against_kept_tests,
    coverage_gaps,
    invented_method,
    invented_name,
    placed,
    rechecked,
    trusted,
    with_request_examples,
)

REQUEST = (
    "Add a class `Ring` in a new module `pkg/ring.py` with `push(value: float) -> None`.\n"
    "Add `make_ring(size: int) -> Ring` to `pkg/ring.py`.\n"
    "Re-export `Ring` and `make_ring` from `pkg/__init__.py` and add them to `__all__`."
)


def case(call: str, module: str = "pkg.ring") -> ScenarioCase:
    return ScenarioCase(
        id="",
        requirement_id="R1",
        capability="rings",
        requirement="Ring",
        name=call,
        example=Example(setup=["ring = Ring(2)"], call=call, expect="None", module=module),
    )


def scenario(example: Example) -> ScenarioCase:
    """A model's scenario of the first requirement, named after its call."""
    return ScenarioCase(id="", requirement_id="R1", capability="c", requirement="r", name=example.call, example=example)


def test_a_reexport_no_scenario_imports_becomes_a_scenario_of_the_users_own_words():
    items = extract(REQUEST)
    cases = with_request_examples(items, [case("ring.push(1.0)")])
    added = {c.example.call: c for c in cases if c.origin == "request"}
    assert set(added) == {"Ring.__name__", "make_ring.__name__"}
    ring = added["Ring.__name__"]
    assert (ring.example.module, ring.example.expect, ring.requirement_id) == ("pkg", "'Ring'", "R1")
    assert "from pkg import Ring" in render_test("test_reexport", "Ring", ring.name, ring.example)
    assert not [gap for gap in coverage_gaps(items, cases) if "re-export" in gap]


def test_a_reexport_a_scenario_already_imports_is_not_added_again():
    items = extract(REQUEST)
    cases = with_request_examples(items, [case("ring.push(1.0)", module="pkg")])
    assert [c.example.call for c in cases if c.origin == "request"] == ["make_ring.__name__"]


def test_two_error_cases_of_one_exception_need_two_different_raising_scenarios():
    items = extract(
        "Change `clip(lo, hi)` in `pkg/span.py`: `lo` above `hi` raises `ValueError`, as does a negative `lo`."
    )
    one = scenario(Example(call="clip(3, 1)", raises="ValueError", module="pkg.span"))
    assert [g for g in coverage_gaps(items, [one]) if "raises" in g] == [
        "no scenario raises `ValueError` for: a negative `lo` (raises `ValueError` too)"
    ]
    assert [g for g in coverage_gaps(items, [one, one]) if "raises" in g] != []  # the same call twice is one
    other = scenario(Example(call="clip(-1, 2)", raises="ValueError", module="pkg.span"))
    assert not [g for g in coverage_gaps(items, [one, other]) if "raises" in g]


def test_a_builtin_the_request_applies_to_an_instance_must_be_checked_by_a_scenario():
    items = extract("Add a class `Ring` in `pkg/ring.py`: `push(value)` adds one; `len(ring)` is how many are held.")
    assert items.protocols == ["len(ring)"]
    pushed = case("ring.push(1.0)")
    assert "`len(ring)` is never checked in a scenario" in coverage_gaps(items, [pushed])
    counted = case("len(ring)")
    assert not [gap for gap in coverage_gaps(items, [pushed, counted]) if "len(" in gap]


def test_a_builtin_call_on_a_plain_function_argument_is_not_a_protocol_item():
    assert extract("Add `total(items)` to `pkg/sums.py`; it returns `len(items)` when all are 1.").protocols == []


CART = (
    "Add a `Cart` class in a new module `shop/cart.py`:\n"
    "- `add(sku: str, price_cents: int, quantity: int = 1) -> None` puts items in the cart;\n"
    "- `total() -> int` returns the net total in cents."
)


def test_a_method_the_request_never_names_is_not_a_test():
    items = extract(CART)
    invented = Example(setup=["cart = Cart()", "cart.add('a', 100)"], call="cart.size()", expect="1")
    assert "`size()` is not a method the request names (it names add, total)" in invented_method(
        invented, items, CART, set()
    )
    assert invented_method(Example(call="Cart().count()", expect="0"), items, CART, set())
    named = Example(setup=["cart = Cart()", "cart.add('a', 100, 2)"], call="cart.total()", expect="200")
    assert invented_method(named, items, CART, set()) == ""


def test_methods_of_a_class_that_already_exists_or_one_described_in_prose_are_left_alone():
    items = extract(CART)
    example = Example(setup=["cart = Cart()"], call="cart.size()", expect="0")
    assert invented_method(example, items, CART, {"Cart"}) == ""  # its methods are in the code
    prose = "Add a class `Counter` in `pkg/counter.py` that can be incremented and read."
    assert (
        invented_method(Example(setup=["c = Counter()"], call="c.read()", expect="0"), extract(prose), prose, set())
        == ""
    )
    mentioned = CART + " Callers may also ask `size()` for the number of SKUs."
    assert invented_method(example, extract(mentioned), mentioned, set()) == ""


PAD = (
    "Add a function `pad(text: str, width: int) -> list[str]` in a new module `pkg/pad.py`:\n"
    "- `pad('a b', 4) == ['a', 'b']`; empty text gives `[]`."
)


def test_a_function_neither_the_request_nor_the_code_has_is_not_a_test():
    items = extract(PAD)
    invented = Example(call="split_words('a b')", expect="['a', 'b']")
    assert "`split_words()` is neither in the request nor in the code: call what the request names (pad)" in (
        invented_name(invented, items, PAD, set())
    )
    assert invented_name(
        Example(setup=["words = split_words('a b')"], call="len(words)", expect="2"), items, PAD, set()
    )
    assert invented_name(Example(call="pad('', 3)", expect="[]"), items, PAD, set()) == ""
    assert invented_name(Example(call="pad(str(12), 3)", expect="['12']"), items, PAD, set()) == ""
    assert invented_name(invented, items, PAD, {"split_words"}) == ""  # the code has it
    said = PAD + " It splits with `split_words`."
    assert invented_name(invented, extract(said), said, set()) == ""
    prose = "Add a way to pad text to a width in `pkg/pad.py`."  # no function named: the spec names them
    assert invented_name(invented, extract(prose), prose, set()) == ""


def test_an_expected_value_naming_something_nothing_defines_is_not_a_test():
    request = 'Change `label(key)` in `pkg/names.py`: `label("_a_b") == "_aB"`; an unknown key gives `DEFAULT`.'
    items = extract(request)
    bare = Example(call="label('_a_b')", expect="_aB")  # the quoted value written bare
    assert invented_name(bare, items, request, set()) == (
        "the expected value uses `_aB`, which nothing defines: write the value itself"
    )
    assert invented_name(Example(call="label('_a_b')", expect="'_aB'"), items, request, set()) == ""
    assert invented_name(Example(call="label('?')", expect="DEFAULT"), items, request, set()) == ""  # named
    assert invented_name(Example(call="label('?')", expect="FALLBACK"), items, request, {"FALLBACK"}) == ""  # code
    made = Example(setup=["want = label('x')"], call="label('x')", expect="want")
    assert invented_name(made, items, request, set()) == ""  # set up by the example itself


def test_a_model_scenario_against_the_users_own_tests_is_dropped_unless_the_request_writes_that_call(
    tmp_path: Path,
):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_codes.py").write_text(
        "from pkg import valid\n\ndef test_valid():\n"
        "    assert valid('123') is False\n    assert valid('1234') is True\n"
    )
    (tmp_path / "tests" / "test_made.py").write_text(
        "# >>> sdd contract: old\ndef test_x():\n    assert valid('9') == 1\n"
    )
    kept = kept_examples(tmp_path, ["tests/test_codes.py", "tests/test_made.py", "pkg/codes.py"])
    assert [(e.call, e.expect) for e in kept] == [("valid('123')", "False"), ("valid('1234')", "True")]

    request = "Add `digit(first: str) -> str` to `pkg/codes.py`; anything but three digits raises `CodeError`."
    wrong, same, new = (
        scenario(Example(call="valid('123')", raises="CodeError")),
        scenario(Example(call="valid('1234')", expect="True")),
        scenario(Example(call="digit('12')", raises="CodeError")),
    )
    assert against_kept_tests([wrong, same, new], kept, request) == [same, new]
    changed = request + " Now `valid('123')` raises `CodeError` too."  # the request changes that call
    assert against_kept_tests([wrong], kept, changed) == [wrong]


def test_a_request_example_is_imported_from_where_the_request_puts_its_function():
    other = scenario(Example(call="count_words('a b')", expect="2", module="pkg.words"))
    items = extract(PAD)
    cases = with_request_examples(items, [other])
    added = next(c for c in cases if c.origin == "request")
    assert added.example.call == "pad('a b', 4)" and added.example.module is None  # not pkg.words
    modules = ModuleMap(existing={"pkg.words": {"count_words"}}, planned=["pkg.pad"], named_in={"pad": "pkg.pad"})
    assert [c.example.module for c in placed(cases, modules, items)] == ["pkg.words", "pkg.pad"]


def test_a_value_the_request_states_for_one_parameter_is_a_scenario_in_its_words():
    request = "Change `pkg/grid.py`: `area(count, width)` must return `1` (not `0`) when `count == 0`."
    model = ScenarioCase(
        id="",
        requirement_id="R1",
        capability="grid",
        requirement="Area",
        name="empty grid",
        example=Example(call="area(0, 1)", raises="ValueError", module="pkg.grid"),
    )
    cases = with_request_examples(extract(request), [model])
    stated = [c for c in cases if c.example and c.example.call == "area(0, 1)"]
    assert len(stated) == 1 and stated[0].origin == "request"
    assert stated[0].example.expect == "1" and stated[0].example.raises is None  # the model's guess is corrected


def test_a_setup_call_the_request_says_raises_is_taken_out_of_a_models_scenario():
    request = "Add `make_ring(size: int) -> Ring` to `pkg/ring.py`. A `size` below 1 raises `ValueError`."
    listed = Example(setup=["make_ring( 0 )"], call="make_ring(-5)", raises="ValueError", module="pkg.ring")
    cases = with_request_examples(extract(request), [scenario(listed)])
    assert cases[0].example.setup == [] and cases[0].example.call == "make_ring(-5)"  # its check is reached


def test_a_test_the_spec_re_checked_is_trusted_only_while_apply_works_on_it():
    users, models, kept = case("ring.push(1.0)"), case("ring.push(2.0)"), case("ring.push(3.0)")
    users.origin, users.test, models.test = "request", "t::users", "t::models"
    kept.test, kept.confirmed = "t::kept", True
    assert trusted([users, models, kept]) == {"t::users"}  # settling a group: a re-checked test can be unsolved
    assert trusted([users, models, kept]) | rechecked([users, models, kept]) == {"t::users", "t::kept"}


STOCK = (
    "Tighten the `Inventory` class in `stock/inventory.py` and add one method:\n"
    "- `remove(item, quantity)` raises `ValueError` for a quantity below 1;\n"
    "- new method `low_stock(threshold: int) -> list[str]`: the sorted names with a count of at most `threshold`."
)
INVENTORY = '''
class Inventory:
    """Counts per item."""

    unit: str = "pcs"

    def __init__(self):
        self._counts = {}

    def add(self, item, quantity=1): ...

    def remove(self, item, quantity=1): ...

    def count(self, item): ...


class Shelf(Inventory):
    def label(self): ...
'''


def test_a_method_an_existing_class_lacks_and_the_request_does_not_add_is_not_a_test():
    members = class_members(INVENTORY)
    assert members == {"Inventory": {"unit", "__init__", "add", "remove", "count"}}  # Shelf inherits: unknown
    items = extract(STOCK)
    copied = Example(setup=["box = Inventory()", "box.put(1)"], call="box.size()", expect="1")
    why = invented_method(copied, items, STOCK, {"Inventory"}, members)
    assert why.startswith("`Inventory` has no method `put()` and the request adds none: call ")
    assert "add" in why and "low_stock" in why
    real = Example(setup=["box = Inventory()", "box.add('pen', 3)"], call="box.low_stock(3)", expect="['pen']")
    assert invented_method(real, items, STOCK, {"Inventory"}, members) == ""
    shelf = Example(setup=["s = Shelf()"], call="s.tidy()", expect="None")  # its methods are not all known
    assert invented_method(shelf, items, STOCK, {"Inventory", "Shelf"}, members) == ""
