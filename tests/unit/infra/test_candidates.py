"""A candidate's failures, told as call / result / expectation for the repair prompt; its re-exports added."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sdd_harness.graph.infra.candidates import (
    candidate_timeout,
    merged_files,
    stops_before_tests,
    with_declared_names,
    wrong_results,
)
from sdd_harness.graph.infra.testrun import PytestRun
from sdd_harness.graph.infra.workspace import CommandResult, Workspace

EVIDENCE = """- test_accents: AssertionError: assert 'caf' == 'cafe'
  - cafe
  + caf
- test_bound: Failed: DID NOT RAISE <class 'ValueError'>
- test_unrelated: AssertionError: assert 1 == 2"""


def test_each_failing_scenario_names_its_call_what_it_gave_and_what_it_should_do() -> None:
    expected = {
        "test_accents": ("slug('Café')", "return `'cafe'`"),
        "test_bound": ("slug('x', 0)", "raise `ValueError`"),
    }
    assert wrong_results(EVIDENCE, expected).splitlines() == [
        "- `slug('Café')` gave `'caf'`; it should return `'cafe'`",
        "- `slug('x', 0)` failed with Failed: DID NOT RAISE <class 'ValueError'>; it should raise `ValueError`",
    ]  # a test that is not a scenario (test_unrelated) stays in the raw output only


def test_no_scenarios_no_lines() -> None:
    assert wrong_results(EVIDENCE, {}) == ""


def test_the_package_the_request_names_gets_its_reexport_even_when_no_task_lists_it(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text('"""pkg."""\n', encoding="utf-8")
    request = "Add a class `Ring` in a new module `pkg/ring.py`. Re-export `Ring` from `pkg/__init__.py`."
    candidate = {"pkg/ring.py": "class Ring:\n    pass\n"}
    out = with_declared_names(Workspace(tmp_path), candidate, ["pkg/ring.py"], request)
    assert out["pkg/__init__.py"] == '"""pkg."""\n\nfrom pkg.ring import Ring\n'


def test_a_declared_exception_class_is_added_to_its_file_and_then_reexported(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "__init__.py").write_text('"""cal."""\n\n__all__ = []\n', encoding="utf-8")
    request = (
        "`parse_date(text)` in `cal/dates.py` raises a new exception `BadDateError`, defined in `cal/dates.py` as a "
        "subclass of `ValueError`. Re-export `BadDateError` from `cal/__init__.py` and add it to `__all__`."
    )
    candidate = {"cal/dates.py": "def parse_date(text):\n    raise BadDateError(text)\n"}
    out = with_declared_names(Workspace(tmp_path), candidate, ["cal/dates.py"], request)
    assert out["cal/dates.py"].startswith("class BadDateError(ValueError):\n")
    assert out["cal/__init__.py"] == '"""cal."""\n\nfrom cal.dates import BadDateError\n\n__all__ = ["BadDateError"]\n'


def test_a_whole_request_reply_stops_at_test_files_unless_the_task_may_write_one() -> None:
    assert stops_before_tests(["pkg/mod.py", "pkg/__init__.py"]) == ["\n### tests/", "\n### test_"]
    assert stops_before_tests(["pkg/mod.py", "tests/test_mod.py"]) == []  # the task writes a test file itself
    assert stops_before_tests(["test_helpers.py"]) == ["\n### tests/"]


def test_a_candidate_may_take_a_few_times_the_unchanged_codes_test_run_not_the_whole_command_budget() -> None:
    def took(seconds: float, timed_out: bool = False) -> PytestRun:
        return PytestRun(result=CommandResult(command="pytest", exit_code=1, seconds=seconds, timed_out=timed_out))

    assert candidate_timeout(took(0.8), 120) == 20  # a small suite: the floor
    assert candidate_timeout(took(10), 120) == 50  # five times the unchanged code's run
    assert candidate_timeout(took(60), 120) == 120  # never more than the configured bound
    assert candidate_timeout(took(120, timed_out=True), 120) == 120  # no measure to go by: the bound
    assert candidate_timeout(None, 90) == 90


def test_a_module_that_imports_itself_loses_that_import_so_it_can_be_loaded(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "__init__.py").write_text("from net.addr import parse\n", encoding="utf-8")
    (tmp_path / "net" / "addr.py").write_text("def parse(text):\n    return text.split('.')\n", encoding="utf-8")
    reply = (
        "### net/addr.py\n```python\nfrom net.addr import parse\nimport re\n\n\n"
        "def parse(text):\n    if not re.fullmatch(r'[0-9.]+', text):\n        raise ValueError(text)\n"
        "    return text.split('.')\n```\n"
    )
    files, problem = merged_files(Workspace(tmp_path), reply, ["net/addr.py"])
    assert problem == "" and "from net.addr import" not in files["net/addr.py"] and "import re" in files["net/addr.py"]
    (tmp_path / "net" / "addr.py").write_text(files["net/addr.py"], encoding="utf-8")
    loaded = subprocess.run(
        [sys.executable, "-c", "import net; print(net.parse('1.2'))"], cwd=tmp_path, text=True, capture_output=True
    )
    assert loaded.returncode == 0 and loaded.stdout.strip() == "['1', '2']", loaded.stderr


def test_a_reply_cut_inside_a_new_module_still_gives_that_module_its_whole_definitions(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.write("shapes/__init__.py", "")
    reply = (
        "### shapes/__init__.py\n```python\nfrom shapes.round import area, perimeter\n```\n\n"
        "### shapes/round.py\n```python\nimport math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\n"
        "def perimeter(r):\n    return 2 * math.pi * r\n\n\ndef diameter(r):\n    return 2 *"
    )
    files, problem = merged_files(workspace, reply, ["shapes/__init__.py", "shapes/round.py"])
    assert problem == ""
    assert "def perimeter(r):" in files["shapes/round.py"] and "diameter" not in files["shapes/round.py"]
    assert "from shapes.round import area, perimeter" in files["shapes/__init__.py"]


def test_a_reply_cut_before_one_whole_definition_of_a_file_names_the_cut(tmp_path: Path) -> None:
    reply = "### shapes/round.py\n```python\ndef area(r):\n    return"
    files, problem = merged_files(Workspace(tmp_path), reply, ["shapes/round.py"])
    assert files == {} and "cut off before one whole definition" in problem


def test_a_fault_while_merging_a_reply_costs_that_candidate_not_the_run(tmp_path: Path, monkeypatch) -> None:
    from sdd_harness.graph.infra import candidates

    def broken(current: str | None, block: str) -> None:
        raise AttributeError("'Call' object has no attribute 'value'")

    monkeypatch.setattr(candidates, "merge_python", broken)
    files, problem = merged_files(Workspace(tmp_path), "### a.py\n```python\nX = 1\n```\n", ["a.py"])
    assert files == {} and "a.py: the block could not be merged (AttributeError" in problem
