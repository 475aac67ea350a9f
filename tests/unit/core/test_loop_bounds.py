"""Every loop ends: a provider that fails every call of one phase's model stops the run after a bounded number of
requests, resumably, and a budget-stopped run does not spend again on resume before the budget is raised.

Each case faults one phase's model only (the fake OpenAI-compatible server, all other phases healthy) and
counts the requests that reached the failing model: the bound is the phase's attempts × the candidates and
repairs per attempt × the SDK's retries, whatever the fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sdd_harness.graph.core.phases import APPLY, BUILTIN_PHASES, ORCHESTRATOR, SPEC
from sdd_harness.graph.entry.api import list_runs, run_change
from tests.fakes.http_team import serve_demo
from tests.fakes.openai_server import FakeOpenAIServer, Fault

ROOT = Path(__file__).resolve().parents[3]
MAX_ATTEMPTS = 3
SAMPLES = 2


@pytest.fixture(autouse=True)
def fast_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai._base_client as base

    monkeypatch.setattr(base, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(base, "MAX_RETRY_DELAY", 0.02)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def config(folder: Path, base_url: str) -> Path:
    phases = {p: {"model": f"m-{p}"} for p in BUILTIN_PHASES}
    phases[APPLY]["samples"] = SAMPLES
    data = {
        "default_provider": "fake",
        "providers": {"fake": {"base_url": base_url, "api_key_env": None}},
        "phases": phases,
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
        "run": {"max_attempts": MAX_ATTEMPTS, "fix_attempts": 1, "approval_gates": []},
    }
    path = folder / "faulty.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("phase", "fault"),
    [
        (APPLY, Fault.server_error(500)),
        (APPLY, Fault(invalid_json=True)),
        (SPEC, Fault.server_error(500)),
        (SPEC, Fault(invalid_json=True)),
    ],
    ids=["apply-500", "apply-bad-json", "spec-500", "spec-bad-json"],
)
def test_a_phase_whose_every_call_fails_stops_the_run_after_a_bounded_number_of_requests(
    tmp_path: Path, demo_repo: Path, slugify_request: str, phase: str, fault: Fault
) -> None:
    with FakeOpenAIServer() as server:
        serve_demo(server)
        server.inject(fault, model=f"m-{phase}", times=10_000)
        result = run_change(slugify_request, demo_repo, config(tmp_path, server.base_url), auto_approve=True)
        requests = server.count(f"m-{phase}")
    assert result.status == "failed" and f"{phase} failed its gate {MAX_ATTEMPTS} time(s)" in result.reason
    assert result.state["pending_phase"] == phase  # resumable where it stopped
    assert list_runs(demo_repo)[result.run_id]["status"] == "failed"
    sdk_tries = 5  # the registry's max_retries + 1 for a 500; a bad body: RunnableRetry's 3 attempts
    per_attempt = (SAMPLES + 1 + 2) if phase == APPLY else 3  # samples + a repair + an escalation; or 1 + 2 re-asks
    assert 0 < requests <= MAX_ATTEMPTS * per_attempt * sdk_tries
    decisions = [d["action"] for d in result.report["decisions"] if d["phase"] == phase]
    assert decisions == ["retry"] * (MAX_ATTEMPTS - 1) + ["stop"]


def test_a_run_stopped_by_its_budget_spends_nothing_on_resume_until_the_budget_is_raised(
    tmp_path: Path, demo_repo: Path, slugify_request: str
) -> None:
    from sdd_harness.graph.entry.api import resume_run

    with FakeOpenAIServer() as server:
        serve_demo(server)
        data = yaml.safe_load(config(tmp_path, server.base_url).read_text(encoding="utf-8"))
        data["run"]["token_budget"] = 1  # the first phase's call already exceeds it
        path = tmp_path / "budget.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        stopped = run_change(slugify_request, demo_repo, path, auto_approve=True)
        assert stopped.status == "budget_exceeded"
        before = server.count()
        again = resume_run(stopped.run_id, demo_repo)
        assert again.status == "budget_exceeded" and server.count() == before  # not one more call


def test_the_demo_repo_is_left_as_it_was_when_apply_never_answers(tmp_path: Path, slugify_request: str) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "demo-repo", repo)
    before = (repo / "textkit" / "strings.py").read_text(encoding="utf-8")
    with FakeOpenAIServer() as server:
        serve_demo(server)
        server.inject(Fault.server_error(500), model=f"m-{APPLY}", times=10_000)
        run_change(slugify_request, repo, config(tmp_path, server.base_url), auto_approve=True)
    assert (repo / "textkit" / "strings.py").read_text(encoding="utf-8") == before
    assert not list((repo / ".sdd" / "sandboxes").iterdir())  # no candidate copy left behind
