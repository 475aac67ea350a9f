"""The whole SDD pipeline with scripted fake models on a real copy of the demo repo (verify runs real pytest).

Each test forces one behaviour a user would notice: routing, the happy path, loop-backs, attempt and budget
bounds with clean stops and resume, the spec gate, and human approval gates.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.config import CONFIGS_DIR
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.phases import ARCHIVE, BUILTIN_PHASES, ORCHESTRATOR, PROPOSE, SPEC, VERIFY
from sdd_harness.graph.entry.api import RunResult, list_runs, resume_run, run_change
from sdd_harness.nodes.tasks import ticked_tasks
from tests.fakes.chat import FakeChatModel
from tests.fakes.scripted import SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT, SLUGIFY_OK, SLUGIFY_REQUEST, DemoScript, team

SLUGIFY_BROKEN = SLUGIFY_OK.replace('.rstrip("-")', ".rstrip(suffix)")

ROOT = Path(__file__).resolve().parents[3]
BASE: dict[str, Any] = yaml.safe_load((CONFIGS_DIR / "opencode-go.yaml").read_text(encoding="utf-8"))
ARCHIVE_DIR = re.compile(r"^openspec/changes/archive/\d{4}-\d{2}-\d{2}-(?P<id>[a-z0-9-]+)$")


@pytest.fixture(autouse=True)
def plain_pytest_in_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo repo's own pytest runs need no plugins; auto-loading the venv's (langsmith: ~1-2 s per start)
    would dominate this file's run time. The harness passes the environment through to its commands."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def make_config(folder: Path, run: dict[str, Any] | None = None, prices: dict[str, Any] | None = None) -> Path:
    """The opencode-go map with run settings / prices changed, written as a user would write it."""
    data = {**BASE, "run": run or {}, "prices": prices or {}}
    path = folder / "sdd-config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def human_prompts(fake: FakeChatModel) -> list[str]:
    """The last (user) message of every call the fake received."""
    return [str(call[-1].content) for call in fake.calls]


def actions(result: RunResult) -> list[tuple[str, str, str]]:
    """Gate decisions, leaving out apply's 'continue with the next task batch' steps."""
    return [(d["phase"], d["action"], d["by"]) for d in result.report["decisions"] if d["action"] != "continue"]


def repo_tests_pass(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --------------------------------------------------------------------------- happy path (one run, many checks)


@dataclass
class HappyRun:
    repo: Path
    result: RunResult
    models: dict[str, FakeChatModel]


@pytest.fixture(scope="module")
def happy(tmp_path_factory: pytest.TempPathFactory) -> HappyRun:
    repo = tmp_path_factory.mktemp("happy") / "demo-repo"
    shutil.copytree(
        ROOT / "examples" / "demo-repo", repo, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
    )
    request = SLUGIFY_REQUEST
    models = team()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        result = run_change(request, repo, "opencode-go", models=models, auto_approve=True)
    return HappyRun(repo, result, models)


def test_each_phase_is_served_by_the_model_its_config_names(happy: HappyRun) -> None:
    calls = happy.result.report["calls"]
    assert {c["phase"] for c in calls} == set(BUILTIN_PHASES) - {VERIFY}  # every scenario has its own test
    for call in calls:
        assert call["requested_model"] == f"fake-{call['phase']}", call
        assert call["served_model"] == f"fake-{call['phase']}", call
    for role, fake in happy.models.items():  # and the fakes agree: nobody answered for another phase
        if role not in (ORCHESTRATOR, VERIFY):
            assert len(fake.calls) == sum(1 for c in calls if c["phase"] == role) >= 1
    rows = happy.result.report["phases"]
    assert [r["phase"] for r in rows] == list(BUILTIN_PHASES)
    assert not any(r["routing_mismatch"] for r in rows)


def test_orchestrator_makes_no_model_call_when_everything_passes(happy: HappyRun) -> None:
    assert happy.models[ORCHESTRATOR].calls == []
    assert not [c for c in happy.result.report["calls"] if c["phase"] == ORCHESTRATOR]
    assert {d["by"] for d in happy.result.report["decisions"]} == {"gate"}


def test_happy_path_archives_the_change(happy: HappyRun) -> None:
    result, repo = happy.result, happy.repo
    assert result.status == "done", result.reason
    assert result.report["verdict"] == "PASS"
    assert actions(result) == [(p, "advance", "gate") for p in BUILTIN_PHASES[:-1]] + [(ARCHIVE, "done", "gate")]

    archived = result.state["outputs"][ARCHIVE]["archive_dir"]
    match = ARCHIVE_DIR.match(archived)
    assert match and match["id"] == result.change_id, archived
    folder = repo / archived
    for name in ("proposal.md", "design.md", "tasks.md", "verify-report.md", "run.json", "run.md"):
        assert (folder / name).is_file(), name
    done, total = ticked_tasks((folder / "tasks.md").read_text(encoding="utf-8"))
    assert total >= 1 and done == total
    assert "PASS" in (folder / "verify-report.md").read_text(encoding="utf-8")
    assert result.report_path == folder / "run.md"
    assert "**done**" in result.report_path.read_text(encoding="utf-8")
    assert not (repo / "openspec" / "changes" / result.change_id).exists()  # moved, not copied

    main_spec = repo / "openspec" / "specs" / "text-slugs" / "spec.md"
    assert main_spec.is_file()
    assert "Slugify Text" in main_spec.read_text(encoding="utf-8")

    assert "def slugify(" in (repo / "textkit" / "strings.py").read_text(encoding="utf-8")
    contract = (repo / "tests" / "test_strings.py").read_text(encoding="utf-8")
    assert "def test_basic_slug():" in contract and "# >>> sdd contract:" in contract  # written before the code
    tests = repo_tests_pass(repo)
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert list_runs(repo)[result.run_id]["status"] == "done"


# --------------------------------------------------------------------------- verify loop-backs


def test_verify_fail_goes_back_to_apply_then_passes(tmp_path: Path, demo_repo: Path, slugify_request: str) -> None:
    # task_loop off: apply runs no per-task checks, so only verify's full test run sees the bug
    script = DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK])
    models = team(script)
    config = make_config(tmp_path, run={"task_loop": False})
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True)

    assert result.status == "done", result.reason
    assert result.report["verdict"] == "PASS"
    steps = actions(result)
    back = steps.index(("sdd-verify", "back_to_apply", "model"))
    assert steps[back + 1][0] == "sdd-apply" and steps[back + 2][0] == "sdd-verify"
    assert len(models[ORCHESTRATOR].calls) == 1  # the model judged exactly the one failure
    judged = human_prompts(models[ORCHESTRATOR])[0]
    assert "test_cut_without_a_trailing_dash" in judged and "AssertionError" in judged
    assert len(judged) < 800  # the failing lines, not the whole pytest log
    fix_prompt = human_prompts(models["sdd-apply"])[-1]
    assert "test_cut_without_a_trailing_dash" in fix_prompt  # real failing-test evidence reached apply
    assert 'rstrip("-")' in (demo_repo / "textkit" / "strings.py").read_text(encoding="utf-8")
    assert repo_tests_pass(demo_repo).returncode == 0


def test_verify_fail_judged_as_spec_problem_reruns_spec(tmp_path: Path, demo_repo: Path, slugify_request: str) -> None:
    script = DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK], judge_target=SPEC)
    models = team(script)
    config = make_config(tmp_path, run={"task_loop": False})
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True)

    assert result.status == "done", result.reason
    steps = actions(result)
    back = steps.index(("sdd-verify", "back_to_spec", "model"))
    rerun = [phase for phase, _, _ in steps[back + 1 :]]
    assert rerun[:6] == [SPEC, "sdd-design", "sdd-tasks", "sdd-apply", "sdd-verify", ARCHIVE]
    spec_prompts = human_prompts(models[SPEC])
    assert len(spec_prompts) == 2
    assert "requirement looks wrong" in spec_prompts[1] and "requirement looks wrong" not in spec_prompts[0]
    assert repo_tests_pass(demo_repo).returncode == 0


# --------------------------------------------------------------------------- bounded attempts


def test_attempts_bound_stops_cleanly_naming_the_phase(tmp_path: Path, demo_repo: Path, slugify_request: str) -> None:
    script = DemoScript(impl_versions=[SLUGIFY_BROKEN])  # never right: every scenario test fails
    models = team(script)
    config = make_config(tmp_path, run={"max_attempts": 2, "fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True)

    assert result.status == "failed"
    assert "sdd-apply" in result.reason and "2 time(s)" in result.reason
    assert result.state["pending_phase"] == "sdd-apply"
    assert steps_for(result, "sdd-apply") == ["retry", "stop"]
    assert models["sdd-verify"].calls == [] and models[ARCHIVE].calls == []  # never got past apply
    assert result.report_path is not None and result.report_path.name == "run.md"
    assert "**failed**" in result.report_path.read_text(encoding="utf-8")
    assert list_runs(demo_repo)[result.run_id]["status"] == "failed"


def steps_for(result: RunResult, phase: str) -> list[str]:
    return [d["action"] for d in result.report["decisions"] if d["phase"] == phase and d["action"] != "continue"]


@pytest.fixture
def failed_after_loop_back(tmp_path: Path, demo_repo: Path, slugify_request: str) -> tuple[RunResult, dict]:
    """Verify fails; the model sends it back to apply; every repair candidate fails the same test, so it goes
    to spec as suspect; nothing ever passes. Loop-backs are bounded by max_attempts."""
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT] * 10))
    config = make_config(tmp_path, run={"max_attempts": 2, "task_loop": False, "fix_attempts": 1})
    return run_change(slugify_request, demo_repo, config, models=models, auto_approve=True), models


def test_failed_loop_back_stops_cleanly(failed_after_loop_back: tuple[RunResult, dict]) -> None:
    result, models = failed_after_loop_back
    assert result.status == "failed"
    assert "the spec stands by test_cut_without_a_trailing_dash" in result.reason  # the spec kept its test
    steps = actions(result)
    assert ("sdd-verify", "back_to_apply", "model") in steps  # the first failure: the model judged the code
    assert ("sdd-verify", "back_to_spec", "gate") in steps  # every candidate failed it: the scenario is suspect
    assert steps[-1] == (SPEC, "stop", "gate")  # design, tasks and apply are not rerun on the same inputs
    assert len(models[ORCHESTRATOR].calls) == 1  # judged once; the suspect test went back without a model call
    assert models[ARCHIVE].calls == []
    assert result.report_path is not None and "**failed**" in result.report_path.read_text(encoding="utf-8")


@dataclass
class SpecCorrects(DemoScript):
    """Asked to re-check the suspect scenario, the spec model answers with ``fix`` (a new call/expectation);
    apply writes the right code only once told that the spec corrected a test."""

    fix: dict[str, str] = field(default_factory=dict)

    def sdd_spec(self, user: str) -> dict:
        if "For each call below, work out" in user:
            return {"scenarios": [{"name": "Cut without a trailing dash", "module": "textkit.strings", **self.fix}]}
        return super().sdd_spec(user)

    def sdd_apply(self, user: str) -> str:
        if "The spec corrected" in user:
            return f"### textkit/strings.py\n```python\nimport re\nimport unicodedata\n{SLUGIFY_OK}```\n"
        return super().sdd_apply(user)


def rechecked(
    tmp_path: Path, demo_repo: Path, slugify_request: str, fix: dict[str, str]
) -> tuple[RunResult, dict[str, Any]]:
    models = team(SpecCorrects(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT] * 10, fix=fix))
    config = make_config(tmp_path, run={"max_attempts": 3, "task_loop": False, "fix_attempts": 1})
    return run_change(slugify_request, demo_repo, config, models=models, auto_approve=True), models


def test_a_corrected_scenario_the_code_already_passes_goes_straight_to_verify(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    fix = {"call": "slugify('hello world', max_length=6)", "expect": "'hello-'"}  # what every candidate returns
    result, models = rechecked(tmp_path, demo_repo, slugify_request, fix)
    assert result.status == "done", result.reason
    steps = actions(result)
    back = steps.index(("sdd-verify", "back_to_spec", "gate"))
    assert steps[back + 1 :] == [
        (SPEC, "skip_to_verify", "gate"),
        (VERIFY, "advance", "gate"),
        (ARCHIVE, "done", "gate"),
    ]
    assert result.report["verdict"] == "PASS"
    archived = "\n".join(p.read_text(encoding="utf-8") for p in (demo_repo / "openspec" / "specs").rglob("spec.md"))
    assert "the result is `'hello-'`" in archived  # the project's spec says what the corrected test checks
    assert "the result is `'hello'`" not in archived
    recheck = next(str(c[-1].content) for c in models[SPEC].calls if "For each call" in str(c[-1].content))
    assert "slugify('hello world', max_length=6)" in recheck  # the call, worked out afresh from the request:
    assert "'hello'`" not in recheck and "hello-" not in recheck  # neither its old outcome nor what the code did


@pytest.mark.parametrize(
    "fix",
    [
        {"call": "slugify('hello world', max_length=6)", "expect": "hyphenated('hello')"},  # an invented helper
        {"call": "slugify('hello world', max_length=6)", "raises": "ValueError"},  # the request: only max_length < 1
    ],
    ids=["invented-name", "against-the-requests-bounds"],
)
def test_a_re_check_answer_that_is_a_guess_is_not_taken(
    tmp_path: Path, demo_repo: Path, slugify_request: str, fix: dict[str, str]
) -> None:
    result, _ = rechecked(tmp_path, demo_repo, slugify_request, fix)
    assert result.status == "failed" and "the spec stands by test_cut_without_a_trailing_dash" in result.reason
    contract = (demo_repo / "tests" / "test_strings.py").read_text(encoding="utf-8")
    assert "hyphenated" not in contract and "assert result == 'hello'" in contract  # the scenario as written


@dataclass
class SpecCorrectsApplyNever(SpecCorrects):
    def sdd_apply(self, user: str) -> str:
        return DemoScript.sdd_apply(self, user)


def test_a_re_checked_scenario_every_candidate_still_fails_ends_the_run_without_another_loop(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    fix = {"call": "slugify('ab cd', max_length=3)", "expect": "'ab'"}  # corrected, and still failed by all
    models = team(SpecCorrectsApplyNever(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT] * 10, fix=fix))
    config = make_config(tmp_path, run={"max_attempts": 3, "task_loop": False, "fix_attempts": 1})
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True)
    assert result.status == "failed"
    assert "every candidate apply tried fails test_cut_without_a_trailing_dash, which the spec re-checked" in (
        result.reason
    )
    steps = actions(result)
    assert steps[-3:] == [(SPEC, "skip_to_apply", "gate"), ("sdd-apply", "advance", "gate"), (VERIFY, "stop", "gate")]
    assert sum(1 for d in result.report["decisions"] if d["action"].startswith("back_to_")) == 2  # bound was 3


def test_a_corrected_scenario_the_code_fails_goes_to_apply_not_design(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    fix = {"call": "slugify('ab cd', max_length=3)", "expect": "'ab'"}  # a new case the buggy code fails
    result, models = rechecked(tmp_path, demo_repo, slugify_request, fix)
    assert result.status == "done", result.reason
    steps = actions(result)
    back = steps.index(("sdd-verify", "back_to_spec", "gate"))
    assert [p for p, _, _ in steps[back + 1 :]] == [SPEC, "sdd-apply", VERIFY, ARCHIVE]
    assert steps[back + 1] == (SPEC, "skip_to_apply", "gate")
    contract = (demo_repo / "tests" / "test_strings.py").read_text(encoding="utf-8")
    assert "slugify('ab cd', max_length=3)" in contract or 'slugify("ab cd", max_length=3)' in contract
    assert repo_tests_pass(demo_repo).returncode == 0


def test_every_loop_back_is_counted_against_the_bound(failed_after_loop_back: tuple[RunResult, dict]) -> None:
    result, _ = failed_after_loop_back
    loops = [d for d in result.report["decisions"] if d["action"].startswith("back_to_")]
    assert len(loops) == 2 and result.report["decisions"][-1]["action"] == "stop"


# --------------------------------------------------------------------------- budget stop and resume


def test_budget_stop_keeps_state_and_resume_finishes_without_repaying(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    models = team()
    # propose is priced at $1 per token: the budget is blown right after it
    prices = {"fake-sdd-propose": {"input_per_mtok": 1_000_000, "output_per_mtok": 1_000_000}}
    config = make_config(tmp_path, run={"budget_usd": 1.0}, prices=prices)
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True)

    assert result.status == "budget_exceeded", result.reason
    assert "budget" in result.reason
    assert result.state["pending_phase"] == SPEC
    assert result.report["pending_phase"] == SPEC
    assert result.report["totals"]["cost_usd"] > 1.0
    change_dir = demo_repo / "openspec" / "changes" / result.change_id
    assert (change_dir / "proposal.md").is_file()  # work already paid for is kept
    assert (change_dir / "run.md").is_file()
    assert models[SPEC].calls == []
    before = {role: len(fake.calls) for role, fake in models.items()}
    assert before[PROPOSE] == 1

    resumed = resume_run(
        result.run_id,
        demo_repo,
        context=Context(repo=str(demo_repo), budget_usd=1e9, auto_approve=True),
        models=models,
    )
    assert resumed.status == "done", resumed.reason
    assert resumed.run_id == result.run_id
    for role in ("sdd-init", "sdd-explore", PROPOSE):
        assert len(models[role].calls) == before[role], f"{role} was called again after resume"
    assert len(models[SPEC].calls) == 1 and len(models[ARCHIVE].calls) == 1
    calls = resumed.report["calls"]
    assert sum(1 for c in calls if c["phase"] == PROPOSE) == 1  # the report keeps the first leg's calls
    assert {c["phase"] for c in calls} == set(BUILTIN_PHASES) - {VERIFY}
    assert list_runs(demo_repo)[result.run_id]["status"] == "done"


def test_token_budget_stops_cleanly(tmp_path: Path, demo_repo: Path, slugify_request: str) -> None:
    models = team()
    result = run_change(
        slugify_request,
        demo_repo,
        make_config(tmp_path, run={"token_budget": 1}),
        models=models,
        auto_approve=True,
    )
    assert result.status == "budget_exceeded"
    assert "token budget" in result.reason
    assert result.state["pending_phase"] == "sdd-explore"
    assert models["sdd-explore"].calls == []


def test_time_budget_stops_cleanly_and_a_resume_with_more_time_finishes_without_repaying(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    models = team()
    config = make_config(tmp_path, run={"time_budget_s": 0.001})  # the first phase alone takes longer
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True)
    assert result.status == "budget_exceeded", result.reason
    assert "exceed the time budget of 0.001 s" in result.reason
    assert result.state["pending_phase"] == "sdd-explore" and models["sdd-explore"].calls == []
    assert len(models["sdd-init"].calls) == 1

    again = resume_run(result.run_id, demo_repo, context=Context(repo=str(demo_repo), auto_approve=True), models=models)
    assert again.status == "budget_exceeded" and models["sdd-explore"].calls == []  # not raised: nothing spent

    more = Context(repo=str(demo_repo), auto_approve=True, time_budget_s=3600)
    resumed = resume_run(result.run_id, demo_repo, context=more, models=models)
    assert resumed.status == "done", resumed.reason
    assert len(models["sdd-init"].calls) == 1 and models["sdd-explore"].calls  # init is not paid for twice


# --------------------------------------------------------------------------- the spec gate


@dataclass
class BadDeltaFirst(DemoScript):
    """Brownfield: the first answer changes an existing requirement but drops one of its scenarios."""

    spec_answers: int = 0

    def sdd_spec(self, user: str) -> dict:
        answer = super().sdd_spec(user)
        self.spec_answers += 1
        requirement = answer["requirements"][0]
        if self.spec_answers == 1:
            requirement["scenarios"] = [s for s in requirement["scenarios"] if s["name"] != "Basic slug"]
        return answer


EXISTING_SPEC = """# text-slugs Specification

## Purpose
Turn arbitrary text into URL-safe slugs for links and file names.

## Requirements
### Requirement: Slugify Text
The system SHALL turn text into a slug.

#### Scenario: Basic slug
- **WHEN** slugify('Hello, World!') is called
- **THEN** it returns 'hello-world'
"""


def test_bad_spec_delta_is_caught_by_the_gate_and_spec_retried_with_the_message(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    spec_dir = demo_repo / "openspec" / "specs" / "text-slugs"
    spec_dir.mkdir(parents=True)
    (spec_dir / "spec.md").write_text(EXISTING_SPEC, encoding="utf-8")
    script = BadDeltaFirst()
    models = team(script)
    result = run_change(slugify_request, demo_repo, "opencode-go", models=models, auto_approve=True)

    assert result.status == "done", result.reason
    spec_decisions = [d for d in result.report["decisions"] if d["phase"] == SPEC]
    assert [d["action"] for d in spec_decisions] == ["retry", "advance"]
    problem = spec_decisions[0]["reason"]
    assert "text-slugs" in problem and "Slugify Text" in problem and "Basic slug" in problem
    assert "Slugify Text" in str(models[SPEC].calls[0][-1].content)  # brownfield: spec saw the existing names
    prompts = human_prompts(models[SPEC])
    assert len(prompts) == 2
    assert problem in prompts[1] and "Feedback from the previous attempt" in prompts[1]
    assert "Feedback from the previous attempt" not in prompts[0]
    main_spec = demo_repo / "openspec" / "specs" / "text-slugs" / "spec.md"
    assert "Slugify Text" in main_spec.read_text(encoding="utf-8")
    assert models[ORCHESTRATOR].calls == []  # a gate failure needs no model judgment


# --------------------------------------------------------------------------- human gates


def test_human_gate_reject_reruns_with_feedback_then_approve_passes(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    models = team()
    answers = iter(["reject: add an error case", "approve"])
    seen: list[dict[str, Any]] = []

    def approver(payload: dict[str, Any]) -> str:
        seen.append(payload)
        return next(answers)

    config = make_config(tmp_path, run={"approval_gates": [PROPOSE]})
    result = run_change(slugify_request, demo_repo, config, models=models, auto_approve=False, approver=approver)

    assert result.status == "done", result.reason
    assert [p["phase"] for p in seen] == [PROPOSE, PROPOSE]
    assert "proposal.md" in seen[0]["artifact"] and "Why" in seen[0]["content"]
    prompts = human_prompts(models[PROPOSE])
    assert len(prompts) == 2
    assert "add an error case" in prompts[1] and "add an error case" not in prompts[0]
    assert (PROPOSE, "retry", "human") in actions(result)


def test_human_gate_approve_only_asks_at_the_configured_gate(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    seen: list[str] = []
    config = make_config(tmp_path, run={"approval_gates": ["before-archive"]})
    result = run_change(
        slugify_request,
        demo_repo,
        config,
        models=team(),
        auto_approve=False,
        approver=lambda payload: seen.append(payload["phase"]) or "approve",
    )
    assert result.status == "done", result.reason
    assert seen == ["sdd-verify"]  # asked once, just before archiving


def test_human_gate_stop_ends_the_run(tmp_path: Path, demo_repo: Path, slugify_request: str) -> None:
    models = team()
    config = make_config(tmp_path, run={"approval_gates": [PROPOSE]})
    result = run_change(
        slugify_request, demo_repo, config, models=models, auto_approve=False, approver=lambda payload: "stop"
    )
    assert result.status == "stopped"
    assert "reviewer" in result.reason
    assert actions(result)[-1] == (PROPOSE, "stop", "human")
    assert models[SPEC].calls == []
    assert len(models[PROPOSE].calls) == 1
    assert result.report_path is not None and "**stopped**" in result.report_path.read_text(encoding="utf-8")


def test_human_gate_without_approver_pauses_and_resume_answers(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    models = team()
    config = make_config(tmp_path, run={"approval_gates": [PROPOSE]})
    paused = run_change(slugify_request, demo_repo, config, models=models, auto_approve=False)
    assert paused.status == "awaiting_approval"
    assert paused.interrupt is not None and paused.interrupt["phase"] == PROPOSE
    assert models[SPEC].calls == []
    resumed = resume_run(paused.run_id, demo_repo, answer="stop", models=models)
    assert resumed.status == "stopped"
    assert len(models[PROPOSE].calls) == 1 and models[SPEC].calls == []


def test_tests_that_do_not_exercise_the_requirement_do_not_count(tmp_path: Path, demo_repo: Path, slugify_request: str):
    """A scenario with no code of its own is linked by the verify model; a linked test that calls none of what
    the scenario is about is no evidence: UNTESTED, and with require_coverage the verdict is FAIL."""

    class ProseScenario(DemoScript):
        def sdd_spec(self, user: str) -> dict:
            answer = super().sdd_spec(user)
            answer["requirements"][0]["scenarios"].append({"name": "Reads well in a URL", "call": "looks nice"})
            return answer

        def sdd_verify(self, user: str) -> dict:
            return {
                "links": [
                    {
                        "scenario": "Reads well in a URL",
                        "test": "tests/test_counting.py::test_word_count_ignores_punctuation",
                    }
                ]
            }

    config = make_config(tmp_path, run={"require_coverage": True, "max_attempts": 1})
    result = run_change(slugify_request, demo_repo, config, models=team(ProseScenario()), auto_approve=True)
    verify = result.state["outputs"]["sdd-verify"]
    rows = {row["scenario"]: row["result"] for row in verify["matrix"]}
    assert rows["Reads well in a URL"] == "UNTESTED" and rows["Basic slug"] == "COMPLIANT"
    assert verify["verdict"] == "FAIL" and any("UNTESTED" in i and i.startswith("CRITICAL") for i in verify["issues"])


@dataclass
class NoValidScenario(DemoScript):
    """Every scenario the spec model writes is invalid code, in both attempts and in every re-ask."""

    def sdd_spec(self, user: str) -> dict:
        answer = super().sdd_spec(user)
        for scenario in answer["requirements"][0]["scenarios"]:
            scenario["call"] = scenario["call"].replace("(", "((", 1)  # never parses
        return answer


PROSE_ONLY = (  # no worked example and no error case: nothing the request says becomes a test by itself
    "Add `slugify(text: str, max_length: int = 50) -> str` to `textkit/strings.py`: a lowercase URL slug of "
    "the text, at most `max_length` characters."
)


def test_a_spec_that_never_gets_a_working_test_goes_on_without_a_contract_rather_than_write_nothing(
    tmp_path: Path, demo_repo: Path
) -> None:
    models = team(NoValidScenario())
    result = run_change(
        PROSE_ONLY, demo_repo, make_config(tmp_path, run={"max_attempts": 2}), models=models, auto_approve=True
    )
    spec_steps = [d for d in result.report["decisions"] if d["phase"] == SPEC]
    assert [d["action"] for d in spec_steps] == ["retry", "advance"]
    assert "going on without a contract" in spec_steps[-1]["reason"]
    steps = [e.get("step") for e in result.report["apply_log"]]
    assert "sample 1 (whole request)" in steps  # nothing tells the paraphrase apart: the one-shot call first
    assert "def slugify(" in (demo_repo / "textkit" / "strings.py").read_text(encoding="utf-8")
    assert result.report["verdict"] in ("PASS WITH WARNINGS", "FAIL")  # scenarios untested, said so


def test_the_requests_own_examples_are_a_working_contract_when_every_model_scenario_is_invalid(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    result = run_change(
        slugify_request,
        demo_repo,
        make_config(tmp_path, run={"max_attempts": 2}),
        models=team(NoValidScenario()),
        auto_approve=True,
    )
    assert [d["action"] for d in result.report["decisions"] if d["phase"] == SPEC] == ["advance"]
    cases = [c for c in result.state["outputs"][SPEC]["cases"] if c["origin"] == "request"]
    assert cases and all(c["test"] and c["example"]["module"] == "textkit.strings" for c in cases)
    assert {c["red"] for c in cases} <= {"new", "kept"}  # they import from where the request puts slugify


def test_a_spec_going_on_without_a_contract_still_stops_at_its_approval_gate(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    seen: list[str] = []
    config = make_config(tmp_path, run={"max_attempts": 2, "approval_gates": [SPEC]})
    result = run_change(
        slugify_request,
        demo_repo,
        config,
        models=team(NoValidScenario()),
        auto_approve=False,
        approver=lambda payload: seen.append(payload["phase"]) or "stop",
    )
    assert seen == [SPEC]  # the reviewer saw the spec before any code was written
    assert result.status == "stopped" and actions(result)[-1] == (SPEC, "stop", "human")
    assert "def slugify(" not in (demo_repo / "textkit" / "strings.py").read_text(encoding="utf-8")
