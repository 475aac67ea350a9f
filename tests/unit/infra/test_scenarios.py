"""The request's own items become scenarios in code: here, each re-export it asks for."""

from __future__ import annotations

from sdd_harness.graph.infra.contract import Example, render_test
from sdd_harness.graph.infra.request_items import extract
from sdd_harness.graph.infra.scenarios import ScenarioCase, coverage_gaps, with_request_examples

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


def test_a_builtin_the_request_applies_to_an_instance_must_be_checked_by_a_scenario():
    items = extract("Add a class `Ring` in `pkg/ring.py`: `push(value)` adds one; `len(ring)` is how many are held.")
    assert items.protocols == ["len(ring)"]
    pushed = case("ring.push(1.0)")
    assert "`len(ring)` is never checked in a scenario" in coverage_gaps(items, [pushed])
    counted = case("len(ring)")
    assert not [gap for gap in coverage_gaps(items, [pushed, counted]) if "len(" in gap]


def test_a_builtin_call_on_a_plain_function_argument_is_not_a_protocol_item():
    assert extract("Add `total(items)` to `pkg/sums.py`; it returns `len(items)` when all are 1.").protocols == []
