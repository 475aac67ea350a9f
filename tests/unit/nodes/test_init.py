"""The test command a run relies on comes from the repository or the config, never from a model's say-so, and
it is run once on the untouched repository before any phase relies on it."""

from __future__ import annotations

import json
from pathlib import Path

from sdd_harness.graph.core.phases import INIT
from sdd_harness.graph.entry.api import run_change
from tests.fakes.scripted import DemoScript, team


class Proposes(DemoScript):
    """An init model (or a prompt injection in the repository it read) that proposes its own test command."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def sdd_init(self, user: str) -> dict:
        return {"language": "python", "test_command": self.command, "conventions": []}


def test_a_hostile_proposal_is_never_run_and_the_run_stops_at_init_saying_why(tmp_path: Path) -> None:
    repo = tmp_path / "notes"
    repo.mkdir()
    (repo / "README.md").write_text("Notes only: nothing says how tests run here.\n", encoding="utf-8")
    marker = tmp_path / "pwned"
    hostile = f"pytest; touch {marker}"
    result = run_change(
        "Add a CHANGELOG entry.", repo, "opencode-go", models=team(Proposes(hostile)), auto_approve=True
    )
    assert not marker.exists()  # the proposal never ran
    assert result.status == "failed" and "sdd-init" in result.reason
    assert "not an allowed test runner invocation" in result.reason
    assert result.state["outputs"][INIT]["test_command"] == ""


def test_a_detected_command_wins_over_the_models_guess(demo_repo: Path, slugify_request: str) -> None:
    guess = "python tests/test_strings.py"  # the kind of guess that once broke every later phase
    result = run_change(slugify_request, demo_repo, "opencode-go", models=team(Proposes(guess)), auto_approve=True)
    project = result.state["outputs"][INIT]
    assert project["test_command"] == "python -m pytest -q" and project["test_command_source"].startswith("detected")
    assert project["baseline"]["exit_code"] == 0 and project["baseline"]["passed"] == 7


def test_a_package_and_tests_folder_without_pyproject_gets_pytest(tmp_path: Path) -> None:
    repo = tmp_path / "tally"
    (repo / "tally").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "tally" / "__init__.py").write_text("def total(xs):\n    return sum(xs)\n", encoding="utf-8")
    (repo / "tests" / "test_total.py").write_text(
        "from tally import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n", encoding="utf-8"
    )
    result = run_change(
        "Add `mean(xs)` to `tally/__init__.py`.", repo, "opencode-go", models=team(Proposes("")), auto_approve=True
    )
    project = result.state["outputs"][INIT]
    assert project["test_command"] == "python -m pytest -q"
    assert project["baseline"] == {
        "exit_code": 0,
        "passed": 1,
        "failed": 0,
        "seconds": project["baseline"]["seconds"],
        "problem": "",
    }


def test_a_command_that_cannot_run_stops_the_change_at_init(tmp_path: Path) -> None:
    repo = tmp_path / "broken"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_x.py").write_text("import no_such_module_anywhere\n", encoding="utf-8")
    result = run_change("Add a helper.", repo, "opencode-go", models=team(Proposes("")), auto_approve=True)
    assert result.status == "failed" and "does not run on the unchanged repository" in result.reason
    assert "collection failed" in json.dumps(result.state["outputs"][INIT]["baseline"])
