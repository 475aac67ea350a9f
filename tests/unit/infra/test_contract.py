"""The change's contract: scenarios as code (`Example`), one rendered pytest test per scenario, the marked block
in a test file, and how a red run on the unchanged repository is judged (`red_problem`).

Rendered tests are run with real pytest on a scratch repository: what matters is what they do when run."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from sdd_harness.graph.infra.contract import (
    ContractTest,
    Example,
    contract_block,
    red_problem,
    render_test,
    uncreated,
    with_contract,
)
from sdd_harness.graph.infra.contract import test_name as scenario_test_name  # not collected as a test
from sdd_harness.graph.infra.testrun import TestOutcome as Outcome  # not collected as a test class
from sdd_harness.graph.infra.testrun import run_pytest
from sdd_harness.graph.infra.workspace import Workspace

# ------------------------------------------------------------------------------------------ Example


def test_an_example_is_cleaned_of_the_wrapping_small_models_add() -> None:
    example = Example(
        setup="`q = Queue()`; q.put(3);",
        call="```python\nq.get()\n```",
        expect="`3`",
        module="queues/simple.py",
    )
    assert (example.setup, example.call, example.expect, example.module) == (
        ["q = Queue()", "q.put(3)"],
        "q.get()",
        "3",
        "queues.simple",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"call": "area(2,", "expect": "4"}, "not a Python expression"),
        ({"call": "area(2, 2)", "setup": ["w ="], "expect": "4"}, "setup is not a Python statement"),
        ({"call": "area(2, 2)"}, "give either expect"),
        ({"call": "area(2, 2)", "expect": "n/a"}, "give either expect"),
        ({"call": "area(2, 2)", "raises": "a value error"}, "raises must be an exception class name"),
    ],
)
def test_an_example_that_is_not_code_is_refused_with_the_reason(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Example(**fields)


def test_raises_wins_over_expect_and_is_reduced_to_a_class_name() -> None:
    example = Example(call="area(-1, 2)", expect="0", raises="raises builtins.ValueError()")
    assert (example.raises, example.expect) == ("ValueError", None)
    assert Example(call="area(1, 2)", expect="2", raises="none").raises is None
    assert Example(call="area(1, 2)", expect="2").then() == "the result is `2`"


def test_names_are_what_the_example_takes_from_the_code_under_test() -> None:
    example = Example(
        setup=["origin = Point(0, 0)"],
        call="distance(origin, Point(3, 4))",
        expect="sorted([x for x in range(5)])[-1] + 0.0",
    )
    assert example.names() == ["Point", "distance"]  # not builtins, not its own variables


def test_test_names_are_snake_case_and_unique_in_the_file() -> None:
    taken: set[str] = set()
    names = [scenario_test_name(s, taken) for s in ["Empty input!", "empty  INPUT", "???", "", "Rejects -1 (negative)"]]
    assert names == [
        "test_empty_input",
        "test_empty_input_2",
        "test_scenario",
        "test_scenario_2",
        "test_rejects_1_negative",
    ]


# ------------------------------------------------------------------------------------------ rendered tests, run

MODULE = """
class OutOfRange(ValueError):
    pass


def area(w, h):
    if w < 0 or h < 0:
        raise OutOfRange("negative side")
    return w * h


def third(x):
    return x / 3


def halves(xs):
    return {"parts": [x / 2 for x in xs]}


class Counter:
    def __init__(self):
        self.n = 0

    def tick(self):
        self.n += 1
        return self.n
"""

SCENARIOS = {
    "test_value": Example(call="area(2, 3)", expect="6", module="geo.shapes"),
    "test_float": Example(call="third(1)", expect="0.3333333333", module="geo.shapes"),
    "test_nested_float": Example(call="halves([1, 3])", expect="{'parts': [0.5, 1.5]}", module="geo.shapes"),
    "test_custom_exception": Example(call="area(-1, 2)", raises="OutOfRange", module="geo.shapes"),
    "test_by_base_class": Example(call="area(-1, 2)", raises="ValueError", module="geo.shapes"),
    "test_setup": Example(setup=["c = Counter()", "c.tick()"], call="c.tick()", expect="2", module="geo.shapes"),
    "test_missing_name": Example(call="perimeter(2, 3)", expect="10", module="geo.shapes"),
    "test_wrong_value": Example(call="area(2, 2)", expect="5", module="geo.shapes"),
    "test_not_raised": Example(call="area(1, 1)", raises="ValueError", module="geo.shapes"),
    "test_new_module": Example(call="volume(1, 2, 3)", expect="6", module="geo.solids"),
    "test_made_up_module": Example(call="area(2, 3)", expect="6", module="geometry_lib.shapes"),
    "test_no_module": Example(call="area(2, 3)", expect="6"),
}


@pytest.fixture(scope="module")
def contract_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    repo = tmp_path_factory.mktemp("repo")
    (repo / "geo").mkdir()
    (repo / "geo/__init__.py").write_text("", encoding="utf-8")
    (repo / "geo/shapes.py").write_text(MODULE, encoding="utf-8")
    tests = [
        ContractTest(
            capability="geo", requirement="Areas", scenario=name, name=name, source=render_test(name, "R", name, e)
        )
        for name, e in SCENARIOS.items()
    ]
    (repo / "tests").mkdir()
    (repo / "tests/test_geo.py").write_text(contract_block("add-geo", tests), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        run = asyncio.run(run_pytest(Workspace(repo), ["tests/test_geo.py"], 120))
    assert run.collection_error == ""
    return {test_id.split("::")[-1]: outcome for test_id, outcome in run.outcomes.items()}


def test_each_rendered_scenario_is_one_test_and_correct_code_passes_it(contract_run: dict[str, Outcome]) -> None:
    assert set(contract_run) == set(SCENARIOS)
    passing = {name for name, o in contract_run.items() if o.status == "passed"}
    assert passing == {
        "test_value",
        "test_float",  # floats compare approximately
        "test_nested_float",  # ... also inside containers, where pytest.approx itself would raise TypeError
        "test_custom_exception",
        "test_by_base_class",
        "test_setup",
    }


def test_a_missing_name_fails_its_own_test_only_and_for_the_right_reason(contract_run: dict[str, Outcome]) -> None:
    outcome = contract_run["test_missing_name"]
    assert (outcome.status, outcome.kind) == ("failed", "ImportError")
    assert red_problem(outcome, may_be_new=[], existing=["geo", "geo.shapes"]) == ""


@pytest.mark.parametrize(
    ("test", "kind"),
    [("test_wrong_value", "AssertionError"), ("test_not_raised", "Failed"), ("test_new_module", "ModuleNotFoundError")],
)
def test_missing_behaviour_is_a_right_reason_to_be_red(contract_run: dict[str, Outcome], test: str, kind: str) -> None:
    outcome = contract_run[test]
    assert outcome.kind == kind
    assert red_problem(outcome, may_be_new=[], existing=["geo", "geo.shapes"]) == ""  # geo/solids.py may be added


@pytest.mark.parametrize(
    ("test", "named"),
    [("test_made_up_module", "'geometry_lib'"), ("test_no_module", "NameError")],
)
def test_a_broken_test_is_named_as_broken(contract_run: dict[str, Outcome], test: str, named: str) -> None:
    problem = red_problem(contract_run[test], may_be_new=["geo.solids"], existing=["geo", "geo.shapes"])
    assert named in problem


@pytest.mark.parametrize(
    ("outcome", "may_be_new", "broken"),
    [
        (Outcome(test_id="t::a", status="passed"), [], False),
        (Outcome(test_id="t::a", status="skipped"), [], False),
        (Outcome(test_id="t::a", status="failed", kind="AttributeError", message="no attribute 'x'"), [], False),
        (Outcome(test_id="t::a", status="failed", kind="TypeError", message="unexpected keyword"), [], False),
        (  # a module in a package the change creates: Python names the package, not the module
            Outcome(test_id="t::a", status="failed", kind="ModuleNotFoundError", message="No module named 'rates'"),
            ["rates.convert"],
            False,
        ),
        (Outcome(test_id="t::a", status="failed", kind="SyntaxError", message="invalid syntax"), [], True),
        (Outcome(test_id="t::a", status="error", kind="FixtureError", message="fixture 'db' not found"), [], True),
        (Outcome(test_id="t::a", status="error", kind="RuntimeError", message="in setup"), [], True),
    ],
)
def test_red_problem_tells_missing_behaviour_from_a_broken_test(
    outcome: Outcome, may_be_new: list[str], broken: bool
) -> None:
    assert bool(red_problem(outcome, may_be_new=may_be_new, existing=["geo"])) is broken


# ------------------------------------------------------------------------------------------ the block in a file


def block(change: str, *names: str) -> str:
    tests = [
        ContractTest(capability="c", requirement="r", scenario=n, name=n, source=f"def {n}():\n    assert True\n")
        for n in names
    ]
    return contract_block(change, tests)


def test_the_block_goes_after_the_users_tests_and_replaces_only_its_own_earlier_version() -> None:
    mine = "import os\n\n\ndef test_users_own():\n    assert os.sep\n"
    first = with_contract(mine, "add-geo", block("add-geo", "test_one"))
    assert first.startswith(mine.rstrip())
    assert "def test_one" in first and first.count("# >>> sdd contract: add-geo") == 1
    revised = with_contract(first + "\n\ndef test_after():\n    pass\n", "add-geo", block("add-geo", "test_two"))
    assert "def test_one" not in revised and "def test_two" in revised
    assert "def test_users_own" in revised and "def test_after" in revised
    assert with_contract(revised, "add-geo", block("add-geo", "test_two")) == revised  # same block: no change
    compile(revised, "test_geo.py", "exec")


def test_a_change_whose_name_starts_another_ones_keeps_the_others_block() -> None:
    text = with_contract(None, "add-geo-errors", block("add-geo-errors", "test_errors"))
    assert text == block("add-geo-errors", "test_errors")  # a new file is just the block
    both = with_contract(text, "add-geo", block("add-geo", "test_values"))
    assert "def test_errors" in both and "def test_values" in both
    assert both.count("# <<< sdd contract: add-geo-errors") == 1 and both.count("# <<< sdd contract: add-geo\n") == 1
    compile(both, "test_geo.py", "exec")


def test_a_method_call_on_an_object_nobody_made_is_a_broken_test() -> None:
    request = "Add a class `RingBuffer(capacity)` with `push(value)` to `sensors/ring.py`; `len(buffer)` is its size."
    assert "`buffer` without creating it" in uncreated(Example(call="buffer.push(1.0)", expect="None"), request)
    made = Example(call="buffer.push(1.0)", expect="None", setup=["buffer = RingBuffer(3)"])
    assert uncreated(made, request) == ""  # setup makes it
    assert uncreated(Example(call="RingBuffer(2).push(1.0)", expect="None"), request) == ""
    named = "Add `cache.clear()` to the module-level `cache` in `store/memo.py`."
    assert uncreated(Example(call="cache.clear()", expect="None"), named) == ""  # the request names that object


def test_a_standard_module_the_expected_value_uses_is_imported_by_the_test_itself():
    worked_out = Example(call="pages(7, per_page=2)", expect="math.ceil(7 / 2)", module="book.paging")
    source = render_test("test_pages", "Paging", "rounds up", worked_out)
    assert "    import math\n" in source and "    from book.paging import pages\n" in source
    namespace: dict = {"__name__": "t"}
    stubbed = source.replace("from book.paging import pages", "pages = lambda n, per_page: 4")
    exec(compile(stubbed, "t", "exec"), namespace)
    namespace["test_pages"]()  # runs: math comes from the standard library, not from the code under test
    called = Example(call="calendar(2024)", expect="12", module="book.dates")  # a function that shares a module's name
    assert "from book.dates import calendar" in render_test("test_cal", "Dates", "months", called)
