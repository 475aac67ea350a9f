"""Every change folder the harness writes is a valid OpenSpec change, as judged by the real OpenSpec CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sdd_harness.graph.core.config import load_config
from sdd_harness.graph.entry.api import run_change
from tests.fakes.scripted import DemoScript, team
from tests.integration.openspec_cli import openspec_bin, run_openspec

pytestmark = pytest.mark.openspec
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


@pytest.fixture(scope="module", autouse=True)
def _cli() -> None:
    if openspec_bin() is None:
        pytest.skip("the OpenSpec CLI could not be installed (node/npm missing)")


def validate_at_archive_gate(
    repo: Path, script: DemoScript, tmp_path: Path, request: str, gate: str = "before-archive"
) -> list[dict[str, Any]]:
    """Run the pipeline; when it pauses at ``gate``, validate the change folder with the real CLI."""
    cfg = load_config("opencode-go")
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"approval_gates": [gate]})})
    reports: list[dict[str, Any]] = []

    def approver(payload: dict[str, Any]) -> str:
        changes = [p.name for p in (repo / "openspec/changes").iterdir() if p.name != "archive"]
        out = run_openspec(["validate", changes[0], "--strict", "--json", "--no-interactive"], cwd=repo)
        reports.append(json.loads(out.stdout))
        return "approve" if gate == "before-archive" else "stop"

    result = run_change(request, repo, cfg, models=team(script), auto_approve=False, approver=approver)
    assert result.status == ("done" if gate == "before-archive" else "stopped"), result.reason
    specs = run_openspec(["validate", "--specs", "--strict", "--json", "--no-interactive"], cwd=repo)
    reports.append(json.loads(specs.stdout))
    return reports


def assert_valid(reports: list[dict[str, Any]]) -> None:
    assert reports
    for report in reports:
        bad = [item for item in report["items"] if not item["valid"]]
        assert not bad, json.dumps(bad, indent=2)


def test_new_capability(demo_repo: Path, slugify_request: str, tmp_path: Path):
    assert_valid(validate_at_archive_gate(demo_repo, DemoScript(), tmp_path, slugify_request))


class Brownfield(DemoScript):
    """MODIFIES an existing requirement (keeping its scenarios) and ADDS one, in the existing capability."""

    def sdd_explore(self, user: str) -> dict:
        return {
            "current_state": "durations/core.py parses h/m/s.",
            "affected_files": ["durations/core.py"],
            "recommendation": "Extend parse_duration.",
            "approaches": [],
            "risks": [],
        }

    def sdd_spec(self, user: str) -> dict:
        assert "Parse Duration Strings" in user  # spec saw the existing requirement names
        module = "durations.core"
        parse = [  # a MODIFIED requirement repeats its existing scenarios (the spec gate checks it)
            {"name": "Single unit", "call": "parse_duration('2m')", "expect": "120", "module": module},
            {"name": "Combined units", "call": "parse_duration('1h30m')", "expect": "5400", "module": module},
            {"name": "Days and spaces", "call": "parse_duration(' 1d 2h ')", "expect": "93600", "module": module},
            {"name": "Bare number", "call": "parse_duration('10')", "raises": "ValueError", "module": module},
        ]
        total = [
            {"name": "Empty list", "call": "sum_durations([])", "expect": "0", "module": module},
            {"name": "Re-exported", "call": "sum_durations(['1h', '30m'])", "expect": "5400", "module": "durations"},
        ]
        return {
            "capability": "duration-parsing",
            "requirements": [
                {
                    "name": "Parse Duration Strings",  # an existing requirement: MODIFIED
                    "text": "The system SHALL parse h, m, s and d units, ignoring spaces.",
                    "scenarios": parse,
                },
                {
                    "name": "Sum Durations",  # a new one: ADDED
                    "text": "The system SHALL sum the seconds of several duration strings.",
                    "scenarios": total,
                },
            ],
        }


def test_brownfield_change_to_an_existing_capability(tmp_path: Path):
    repo = tmp_path / "brownfield"
    shutil.copytree(EXAMPLES / "brownfield-repo", repo)
    script = Brownfield()
    request = (EXAMPLES / "brownfield-request.md").read_text()
    reports = validate_at_archive_gate(repo, script, tmp_path, request, gate="sdd-spec")
    assert_valid(reports)
    delta = next((repo / "openspec/changes").glob("*/specs/duration-parsing/spec.md")).read_text()
    assert "## MODIFIED Requirements" in delta and "### Requirement: Parse Duration Strings" in delta
    assert "## ADDED Requirements" in delta and "### Requirement: Sum Durations" in delta
