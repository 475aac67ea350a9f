"""The whole pipeline on the real embedded llama.cpp models (configs/local.yaml): plumbing, not wording."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sdd_harness.graph.core.config import load_config
from sdd_harness.graph.core.phases import BUILTIN_PHASES
from sdd_harness.graph.entry.api import run_change

pytestmark = [pytest.mark.real_model, pytest.mark.timeout(1800)]
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
FINAL = {"done", "failed", "stopped", "budget_exceeded"}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory):
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed: pip install 'sdd-harness[local]'")
    repo = tmp_path_factory.mktemp("real") / "demo-repo"
    shutil.copytree(EXAMPLES / "demo-repo", repo)
    events: list[dict] = []
    request = (EXAMPLES / "demo-request.md").read_text(encoding="utf-8")
    result = run_change(request, repo, "local", auto_approve=True, on_event=events.append)
    return result, repo, events


def test_run_ends_in_a_defined_status_within_the_attempt_bound(local_run):
    result, _, _ = local_run
    assert result.status in FINAL, result.reason
    config = load_config("local")
    loops = [d for d in result.report["decisions"] if d["action"].startswith("back_to_")]
    assert len(loops) <= config.run.max_attempts
    assert result.report_path is not None and result.report_path.is_file()


def test_every_call_was_served_by_the_local_model_its_config_names(local_run):
    result, _, _ = local_run
    config = load_config("local")
    answered = [c for c in result.report["calls"] if c["ok"] and c["served_model"]]
    assert answered, "no model call succeeded"
    for call in answered:
        expected = config.binding(call["phase"]).model
        assert call["requested_model"] == expected, call
        assert call["served_model"] == expected, call  # as reported by the llama.cpp server
        assert call["input_tokens"] > 0 and call["output_tokens"] > 0, call


def test_artifacts_of_every_passed_phase_exist_and_parse(local_run):
    result, repo, _ = local_run
    passed = {d["phase"] for d in result.report["decisions"] if d["action"] in ("advance", "done")}
    change = result.change_id
    archived = list((repo / "openspec/changes/archive").glob(f"*-{change}"))
    folder = archived[0] if archived else repo / "openspec/changes" / change
    expect = {
        "sdd-explore": "exploration.md",
        "sdd-propose": "proposal.md",
        "sdd-design": "design.md",
        "sdd-tasks": "tasks.md",
        "sdd-verify": "verify-report.md",
    }
    for phase, name in expect.items():
        if phase in passed:
            assert (folder / name).is_file(), name
    if "sdd-propose" in passed:
        assert "## Why" in (folder / "proposal.md").read_text()
    if "sdd-spec" in passed:
        specs = list((folder / "specs").rglob("spec.md"))  # capability ids may nest: specs/a/b/spec.md
        assert specs and "### Requirement:" in specs[0].read_text() and "#### Scenario:" in specs[0].read_text()
    if "sdd-tasks" in passed:
        assert "- [" in (folder / "tasks.md").read_text()
    assert (folder / "run.json").is_file()


def test_verify_ran_the_tests_or_the_status_names_where_and_why_the_run_stopped(local_run):
    result, _, _ = local_run
    verify = result.state.get("outputs", {}).get("sdd-verify")
    if verify is not None:
        commands = verify["commands"]
        assert commands and "pytest" in commands[0]["command"] and isinstance(commands[0]["exit_code"], int)
    if result.status != "done":
        stopped = result.state.get("pending_phase") or ""
        assert stopped in BUILTIN_PHASES and result.reason.strip(), (result.status, stopped, result.reason)
        assert stopped in result.reason or "verification" in result.reason or "budget" in result.reason


def test_every_ticked_task_changed_its_file_and_passed_its_scenario_tests(local_run):
    result, repo, _ = local_run
    plan = result.state.get("outputs", {}).get("sdd-tasks") or {"tasks": []}
    applied = result.state.get("apply_results") or {}
    change = result.change_id
    archived = list((repo / "openspec/changes/archive").glob(f"*-{change}"))
    folder = archived[0] if archived else repo / "openspec/changes" / change
    tasks_md = (folder / "tasks.md").read_text() if (folder / "tasks.md").is_file() else ""
    for index, task in enumerate(plan["tasks"], 1):
        if f"- [x] 1.{index} " not in tasks_md:
            continue
        original = EXAMPLES / "demo-repo" / task["file"]
        now = repo / task["file"]
        assert now.is_file() and (not original.is_file() or now.read_text() != original.read_text()), task["file"]
        assert applied.get(str(index), {}).get("ok"), (index, applied.get(str(index)))


def test_a_pass_verdict_comes_with_every_scenario_test_green(local_run):
    result, repo, _ = local_run
    verify = result.state.get("outputs", {}).get("sdd-verify") or {}
    if verify.get("verdict") != "PASS":
        assert result.status != "done" or verify.get("verdict") in ("PASS WITH WARNINGS", None), verify.get("verdict")
        return
    spec = result.state["outputs"]["sdd-spec"]
    tests = [c["test"] for c in spec["cases"] if c["test"] and c["red"] in ("new", "kept")]
    assert tests and all(row["result"] == "COMPLIANT" for row in verify["matrix"] if row["test"] in tests)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:]


def test_progress_was_streamed_for_each_phase_that_ran(local_run):
    result, _, events = local_run
    started = {e["phase"] for e in events if e.get("event") == "phase_start"}
    assert started <= set(BUILTIN_PHASES) and "sdd-init" in started
    assert any(e.get("event") == "gate" for e in events)
