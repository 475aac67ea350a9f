"""Runs checkpointed in PostgreSQL stop and resume — in a fresh graph and in a fresh process — without repaying.

Needs a server: ``eval "$(bash .ci/postgres.sh start)"`` exports ``SDD_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.config import CONFIGS_DIR
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.phases import ARCHIVE, BUILTIN_PHASES, PROPOSE, SPEC
from sdd_harness.graph.entry.api import list_runs, resume_run, run_change
from tests.fakes.scripted import team
from tests.integration.test_durability import calls, finish, log_lines, spawn

pytestmark = pytest.mark.integration
URL = os.environ.get("SDD_TEST_POSTGRES_URL", "")
if not URL:
    pytestmark = [
        pytestmark,
        pytest.mark.skip(reason='SDD_TEST_POSTGRES_URL not set; start one: eval "$(bash .ci/postgres.sh start)"'),
    ]
elif importlib.util.find_spec("langgraph.checkpoint.postgres") is None:
    pytestmark = [
        pytestmark,
        pytest.mark.skip(reason="needs the postgres extra: pip install 'sdd-harness[postgres]'"),
    ]


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("SDD_CHECKPOINT_URL", raising=False)


def stored_checkpoints(run_id: str) -> int:
    import psycopg

    with psycopg.connect(URL) as conn:
        return conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s", (run_id,)).fetchone()[0]


def no_sqlite(repo: Path) -> bool:
    return not (repo / ".sdd" / "checkpoints.sqlite").exists()


def test_approval_pause_then_resume_in_a_fresh_process(demo_repo: Path, slugify_request: str, tmp_path: Path) -> None:
    models = team()
    context = Context(repo=str(demo_repo), approval_gates=[PROPOSE])
    paused = run_change(slugify_request, demo_repo, "opencode-go", models=models, context=context, checkpoint_url=URL)
    assert paused.status == "awaiting_approval" and paused.interrupt["phase"] == PROPOSE
    assert no_sqlite(demo_repo)
    assert stored_checkpoints(paused.run_id) >= 6
    meta = list_runs(demo_repo)[paused.run_id]
    assert meta["status"] == "awaiting_approval" and meta["checkpointer"].startswith("postgresql://")
    assert URL.split("@")[0].split(":")[-1] not in meta["checkpointer"]  # the password is not stored
    first = {role: len(fake.calls) for role, fake in models.items() if fake.calls}
    assert set(first) == {"sdd-init", "sdd-explore", PROPOSE}

    log = tmp_path / "calls.log"  # the resume: another process, store named only by SDD_CHECKPOINT_URL
    proc = spawn(
        "resume", demo_repo, log, "--run-id", paused.run_id, "--answer", "approve", env={"SDD_CHECKPOINT_URL": URL}
    )
    result = finish(proc)
    assert result["status"] == "done", result
    resumed = calls(log_lines(log), "resume")
    left = set(BUILTIN_PHASES) - set(first)
    assert set(resumed) <= left, resumed  # finished phases were not asked again
    assert left - set(resumed) <= {"sdd-verify"}, resumed  # verify needs no model when the contract decides
    assert no_sqlite(demo_repo)
    assert list_runs(demo_repo)[paused.run_id]["status"] == "done"
    assert (demo_repo / "openspec" / "specs" / "text-slugs" / "spec.md").is_file()


def test_budget_stop_then_resume_in_a_fresh_graph(demo_repo: Path, slugify_request: str, tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load((CONFIGS_DIR / "opencode-go.yaml").read_text(encoding="utf-8"))
    data["run"] = {"budget_usd": 1.0}
    data["prices"] = {"fake-sdd-propose": {"input_per_mtok": 1_000_000, "output_per_mtok": 1_000_000}}
    config = tmp_path / "sdd-config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    models = team()
    stopped = run_change(slugify_request, demo_repo, config, models=models, auto_approve=True, checkpoint_url=URL)
    assert stopped.status == "budget_exceeded", stopped.reason
    assert stopped.state["pending_phase"] == SPEC and models[SPEC].calls == []
    before = {role: len(fake.calls) for role, fake in models.items()}

    resumed = resume_run(
        stopped.run_id,
        demo_repo,
        models=models,
        context=Context(repo=str(demo_repo), budget_usd=1e9, auto_approve=True),
        checkpoint_url=URL,
    )
    assert resumed.status == "done", resumed.reason
    for role in ("sdd-init", "sdd-explore", PROPOSE):
        assert len(models[role].calls) == before[role], f"{role} was called again after resume"
    assert len(models[SPEC].calls) == 1 and len(models[ARCHIVE].calls) == 1
    assert no_sqlite(demo_repo)
