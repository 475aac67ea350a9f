"""Which module a scenario imports its names from (`module_map` + `ModuleMap.resolve`): the request's own
words first, then where the names are defined today, then the model's guess — and where the tests go."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdd_harness.graph.infra.contract import Example, contract_block, render_test
from sdd_harness.graph.infra.modulemap import (
    ModuleMap,
    contract_path,
    makeable_classes,
    module_map,
    python_modules,
)

FILES = {
    "geo/__init__.py": "from .shapes import area\n",
    "geo/shapes.py": "def area(w, h):\n    return w * h\n\n\ndef _helper():\n    pass\n\n\nUNIT = 'cm'\n",
    "geo/broken.py": "def oops(:\n",
    "report/__init__.py": "",
    "report/text.py": "from geo.shapes import area\n\n\ndef render(x):\n    return f'{x} / {area(1, 1)}'\n",
    "tests/test_shapes.py": "def test_area():\n    pass\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return tmp_path


def mapped(repo: Path, request: str, paths: list[str], names: list[str]) -> ModuleMap:
    return module_map(repo, list(FILES), request, paths, names)


def test_the_map_indexes_modules_and_reads_which_module_the_request_puts_each_name_in(repo: Path) -> None:
    request = (
        "- Add `perimeter(w, h)` to `geo/shapes.py`; test it in `tests/test_shapes.py`.\n"  # a test file claims nothing
        "- Add `volume(w, h, d)` in a new module `./geo/solids.py`.\n"
        "- Move `render` from report/text.py to report/html.py.\n"  # two modules on the line: no claim
    )
    paths = ["geo/shapes.py", "geo/solids.py", "tests/test_shapes.py"]
    modules = mapped(repo, request, paths, ["perimeter", "volume", "render"])
    assert modules.existing["geo.shapes"] == {"area", "_helper", "UNIT"}
    assert modules.existing["geo"] == {"area"}  # a re-export counts as a name the package has
    assert modules.existing["geo.broken"] == set()  # a file that does not parse defines nothing
    assert "tests.test_shapes" not in modules.existing
    assert modules.planned == ["geo.solids"]
    assert modules.packages == {"geo", "report"}
    assert modules.named_in == {"perimeter": "geo.shapes", "volume": "geo.solids"}


@pytest.mark.parametrize(
    ("request_text", "paths", "example", "expected"),
    [
        (  # the request's words beat the model's guess
            "Add `perimeter(w, h)` to `geo/shapes.py`.",
            ["geo/shapes.py"],
            Example(call="perimeter(1, 2)", expect="6", module="geo.perimeter"),
            "geo.shapes",
        ),
        (  # where the name is defined today beats a guess that does not define it
            "Make `render` print a unit.",
            [],
            Example(call="render(2)", expect="'2 cm'", module="geo.shapes"),
            "report.text",
        ),
        (  # the package re-exports it and another module imports it: the module that defines it
            "Make `area` reject negative sides.",
            [],
            Example(call="area(-1, 2)", raises="ValueError"),
            "geo.shapes",
        ),
        (  # nothing defines the name yet: the one new module the request names
            "Add `volume(w, h, d)` in a new module.",
            ["geo/solids.py"],
            Example(call="volume(1, 2, 3)", expect="6"),
            "geo.solids",
        ),
        (  # an existing name is never sent to the new module
            "Make `area` reject negative sides.\nAdd `geo/solids.py` for volumes.",
            ["geo/solids.py"],
            Example(call="area(-1, 2)", raises="ValueError"),
            "geo.shapes",
        ),
        (  # a guess that can import the name is kept
            "Make `area` reject negative sides.",
            [],
            Example(call="area(-1, 2)", raises="ValueError", module="geo"),
            "geo",
        ),
        (  # no names taken from the code: the example's own module stands
            "Nothing to import here.",
            [],
            Example(call="abs(-2)", expect="2", module="geo.shapes"),
            "geo.shapes",
        ),
        (  # a guess at a module nobody knows, with nothing else to go on: no module
            "Add `skew(x)`.",
            [],
            Example(call="skew(1)", expect="2", module="geometry_utils"),
            None,
        ),
        (  # a known module the model chose for a new name is kept
            "Add `skew(x)`.",
            [],
            Example(call="skew(1)", expect="2", module="report.text"),
            "report.text",
        ),
    ],
)
def test_resolve(repo: Path, request_text: str, paths: list[str], example: Example, expected: str | None) -> None:
    modules = mapped(repo, request_text, paths, example.names())
    assert modules.resolve(example, reexported={}) == expected


def test_a_scenario_about_a_reexport_imports_from_the_package(repo: Path) -> None:
    modules = mapped(repo, "Add `perimeter` to `geo/shapes.py` and re-export it from `geo`.", [], ["perimeter"])
    example = Example(call="perimeter(1, 2)", expect="6", module="geo")
    assert modules.resolve(example, reexported={"geo": {"perimeter"}}) == "geo"
    assert modules.resolve(example, reexported={}) == "geo.shapes"


def test_private_names_do_not_steer_the_module(repo: Path) -> None:
    modules = mapped(repo, "", [], [])
    assert modules.resolve(Example(call="_helper()", expect="None", module="geo"), reexported={}) == "geo"


def test_python_modules_are_dotted_and_packages_drop_init() -> None:
    assert python_modules(Path("."), ["a/b.py", "a/__init__.py", "c.py", "README.md"]) == {"a.b", "a", "c"}


# ------------------------------------------------------------------------------------------ where the tests go


def test_the_tests_go_where_the_request_says(repo: Path) -> None:
    paths = ["geo/solids.py", "tests/conftest.py", "tests/test_solids.py"]
    assert contract_path(repo, paths, "Solid volumes") == "tests/test_solids.py"


def test_otherwise_a_new_file_named_after_the_capability_in_the_tests_folder(repo: Path) -> None:
    assert contract_path(repo, [], "Solid Volumes!") == "tests/test_solid_volumes.py"
    assert contract_path(repo, [], "shapes") == "tests/test_shapes_contract.py"  # tests/test_shapes.py is taken
    assert contract_path(repo, [], "???") == "tests/test_change.py"


def test_a_repo_with_a_test_folder_gets_its_tests_there(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    assert contract_path(tmp_path, [], "volumes") == "test/test_volumes.py"


def test_a_helper_that_already_lives_elsewhere_is_imported_from_its_own_module(repo: Path) -> None:
    request = "Add a class `Plan` in a new module `geo/plans.py`; its `cost()` uses `area` from `geo/shapes.py`."
    modules = mapped(repo, request, ["geo/plans.py", "geo/shapes.py"], ["Plan"])
    example = Example(setup=["plan = Plan(2, 3)"], call="plan.cost()", expect="area(2, 3)")
    placed = modules.place(example, {})
    assert (placed.module, placed.imports) == ("geo.plans", {"area": "geo.shapes"})
    test = render_test("test_cost", "Plan", "cost", placed)
    assert "from geo.plans import Plan\n" in test and "from geo.shapes import area\n" in test


def test_a_name_the_module_under_test_defines_or_reexports_is_not_split_off(repo: Path) -> None:
    modules = mapped(repo, "Change `area(w, h)` in `geo/shapes.py` to round.", ["geo/shapes.py"], ["area"])
    assert modules.place(Example(call="area(2, 3)", expect="6"), {}).imports == {}
    from_package = Example(call="area.__name__", expect="'area'", module="geo")
    assert modules.place(from_package, {"geo": {"area"}}).model_dump(include={"module", "imports"}) == {
        "module": "geo",
        "imports": {},
    }


def test_a_spec_retry_rewrites_the_file_that_holds_its_contract_instead_of_leaving_it_behind(repo: Path) -> None:
    held = contract_block("add-x", [])
    (repo / "tests" / "test_rings.py").write_text(held, encoding="utf-8")
    (repo / "tests" / "test_other.py").write_text(contract_block("add-x-errors", []), encoding="utf-8")
    assert contract_path(repo, [], "ring buffer", "add-x") == "tests/test_rings.py"  # not a second file
    assert contract_path(repo, [], "ring buffer", "add-y") == "tests/test_ring_buffer.py"


# ------------------------------------------------------------------------ objects a scenario forgets to make

BOOK = """class GradeBook:
    def __init__(self, name: str = "class"):
        self.scores = {}

    def add(self, student, score):
        self.scores.setdefault(student, []).append(score)

    @staticmethod
    def scale(x):
        return x


class Ledger:
    def __init__(self, owner):
        self.owner = owner

    def post(self, amount):
        pass
"""


def test_classes_made_with_no_arguments_are_known_with_their_instance_methods() -> None:
    assert makeable_classes(BOOK) == {"GradeBook": {"__init__", "add"}}  # Ledger needs an owner
    dataclasses = "@dataclass\nclass A:\n    x: int = 0\n\n\n@dataclass\nclass B:\n    x: int\n"
    assert makeable_classes(dataclasses) == {"A": set()}


def test_an_object_the_scenario_uses_but_never_makes_is_made_first_when_one_class_can_mean_it() -> None:
    modules = ModuleMap(existing={"school.grades": {"GradeBook"}}, makeable=makeable_classes(BOOK))
    for name in ("grade_book", "book", "gradebook"):
        mended = modules.instantiated(Example(call=f"{name}.add('Ada', -1)", raises="ValueError"))
        assert mended.setup == [f"{name} = GradeBook()"] and mended.call == f"{name}.add('Ada', -1)"
    test = render_test("test_t", "R", "S", modules.place(mended.model_copy(update={"module": "school.grades"}), {}))
    assert "from school.grades import GradeBook" in test and "book = GradeBook()" in test


def test_a_method_called_on_its_class_is_called_on_a_new_instance() -> None:
    modules = ModuleMap(makeable=makeable_classes(BOOK))
    mended = modules.instantiated(Example(call="GradeBook.add('Ada', 101)", raises="ValueError"))
    assert mended.call == "GradeBook().add('Ada', 101)"
    assert modules.instantiated(Example(call="GradeBook.scale(2)", expect="2")).call == "GradeBook.scale(2)"


def test_an_object_is_left_alone_when_it_is_made_defined_or_needs_arguments() -> None:
    modules = ModuleMap(existing={"pkg.store": {"book"}}, makeable=makeable_classes(BOOK))
    made = Example(setup=["book = GradeBook('x')"], call="book.add('Ada', 5)", expect="None")
    assert modules.instantiated(made) == made
    assert modules.instantiated(Example(call="book.add('Ada', 5)", expect="None")).setup == []  # a module's `book`
    assert (
        ModuleMap(makeable=makeable_classes(BOOK)).instantiated(Example(call="ledger.post(5)", expect="None")).setup
        == []
    )


def test_the_request_writing_a_class_with_empty_brackets_makes_it_makeable(repo: Path) -> None:
    modules = mapped(repo, "Add a class `Stack` in `geo/stack.py`: `Stack()` starts empty; `push(x)` adds.", [], [])
    assert modules.instantiated(Example(call="stack.push(1)", expect="None")).setup == ["stack = Stack()"]
