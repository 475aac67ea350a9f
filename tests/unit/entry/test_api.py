"""The script API's run bookkeeping: where checkpoints go, what `sdd runs` shows, and resume refusing clearly
(and touching nothing) when asked for something it cannot do."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.config import CONFIGS_DIR
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.phases import DESIGN, PROPOSE, SPEC
from sdd_harness.graph.entry.api import RunError, RunResult, list_runs, resume_run, run_change
from sdd_harness.graph.infra import checkpoints
from sdd_harness.graph.infra.checkpoints import CheckpointError, open_checkpointer
from tests.fakes.scripted import SLUGIFY_REQUEST, team

ROOT = Path(__file__).resolve().parents[3]
BASE: dict[str, Any] = yaml.safe_load((CONFIGS_DIR / "opencode-go.yaml").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def plain_pytest_in_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv(checkpoints.ENV_URL, raising=False)


def write_config(folder: Path, **run: Any) -> Path:
    path = folder / "sdd-config.yaml"
    path.write_text(yaml.safe_dump({**BASE, "run": run}, sort_keys=False), encoding="utf-8")
    return path


def stored(repo: Path, run_id: str) -> tuple[str, int, int, str | None]:
    """Everything resume could have changed: the index file, the run's checkpoints and pending writes."""
    index = (repo / ".sdd" / "runs.json").read_text(encoding="utf-8")
    with sqlite3.connect(repo / ".sdd" / "checkpoints.sqlite") as db:
        count, latest = db.execute(
            "SELECT count(*), max(checkpoint_id) FROM checkpoints WHERE thread_id = ?", (run_id,)
        ).fetchone()
        writes = db.execute("SELECT count(*) FROM writes WHERE thread_id = ?", (run_id,)).fetchone()[0]
    return index, count, writes, latest


def paused_at_propose(repo: Path, folder: Path, request: str, **context: Any) -> RunResult:
    ctx = Context(repo=str(repo), **{"approval_gates": [PROPOSE], **context})
    result = run_change(request, repo, write_config(folder), models=team(), context=ctx)
    assert result.status == "awaiting_approval" and result.interrupt["phase"] == PROPOSE
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    repo = tmp_path_factory.mktemp("finished") / "demo-repo"
    shutil.copytree(ROOT / "examples" / "demo-repo", repo, ignore=shutil.ignore_patterns("__pycache__"))
    request = SLUGIFY_REQUEST
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        mp.delenv(checkpoints.ENV_URL, raising=False)
        result = run_change(request, repo, "opencode-go", models=team(), auto_approve=True)
    assert result.status == "done", result.reason
    return repo, result


# --------------------------------------------------------------------------- checkpoint stores


def test_default_store_is_sqlite_in_the_repo_with_wal(tmp_path: Path) -> None:
    async def pragmas() -> tuple[Any, ...]:
        async with open_checkpointer(tmp_path) as saver:

            def read() -> list[Any]:  # on the saver's own thread: synchronous is per connection
                return [saver.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "synchronous")]

            modes = await asyncio.get_running_loop().run_in_executor(saver.pool, read)
            return type(saver).__name__, *modes

    assert asyncio.run(pragmas()) == ("ThreadedSqliteSaver", "wal", 1)  # 1 = NORMAL
    assert (tmp_path / ".sdd" / "checkpoints.sqlite").is_file()
    assert (tmp_path / ".sdd" / ".gitignore").read_text() == "*\n"
    assert checkpoints.describe(tmp_path) == f"sqlite:///{tmp_path.resolve()}/.sdd/checkpoints.sqlite"


def test_a_store_written_by_langgraphs_async_saver_reads_the_same(tmp_path: Path) -> None:
    """Runs checkpointed before the one-hop saver (by AsyncSqliteSaver) still resume: same tables, same rows."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.graph import START, StateGraph
    from typing_extensions import TypedDict

    class Count(TypedDict):
        n: int

    builder = StateGraph(Count)
    builder.add_node("inc", lambda state: {"n": state["n"] + 1})
    builder.add_edge(START, "inc")
    thread = {"configurable": {"thread_id": "old"}}
    db = tmp_path / ".sdd" / "checkpoints.sqlite"
    db.parent.mkdir()

    async def write_then_read() -> tuple[Any, ...]:
        async with AsyncSqliteSaver.from_conn_string(str(db)) as old:
            await builder.compile(checkpointer=old).ainvoke({"n": 1}, thread, durability="sync")
        async with open_checkpointer(tmp_path) as saver:
            graph = builder.compile(checkpointer=saver)
            state = await graph.aget_state(thread)
            history = [s async for s in graph.aget_state_history(thread)]
            again = await graph.ainvoke({"n": 10}, thread, durability="sync")
        return state.values, len(history), again

    values, steps, again = asyncio.run(write_then_read())
    assert values == {"n": 2}
    assert steps == 3  # input, start, inc
    assert again == {"n": 11}


def test_env_url_picks_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "shared" / "cp.sqlite"
    monkeypatch.setenv(checkpoints.ENV_URL, f"sqlite:///{elsewhere}")

    async def open_it() -> None:
        async with open_checkpointer(tmp_path / "repo"):
            pass

    asyncio.run(open_it())
    assert elsewhere.is_file() and not (tmp_path / "repo" / ".sdd" / "checkpoints.sqlite").exists()
    assert checkpoints.describe(tmp_path) == f"sqlite:///{elsewhere}"


def test_bad_urls_are_explained_without_leaking_the_password(tmp_path: Path) -> None:
    async def open_it(url: str) -> None:
        async with open_checkpointer(tmp_path, url):
            pass

    with pytest.raises(CheckpointError, match="not understood") as err:
        asyncio.run(open_it("mysql://user:s3cret@host/db"))
    assert "s3cret" not in str(err.value)
    pytest.importorskip("langgraph.checkpoint.postgres", reason="needs the postgres extra")
    with pytest.raises(CheckpointError, match="cannot connect") as err:
        asyncio.run(open_it("postgresql://sdd:s3cret@127.0.0.1:1/sdd?connect_timeout=2"))
    assert "s3cret" not in str(err.value) and "sdd:***@127.0.0.1:1" in str(err.value)


def test_a_corrupt_sqlite_store_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    store = tmp_path / ".sdd" / "checkpoints.sqlite"
    store.parent.mkdir()
    store.write_bytes(b"not a database, but someone's bytes" * 200)

    async def open_it() -> None:
        async with open_checkpointer(tmp_path):
            pass

    with pytest.raises(CheckpointError, match="cannot open the checkpoint store .*checkpoints.sqlite.*not a database"):
        asyncio.run(open_it())
    assert store.read_bytes() == b"not a database, but someone's bytes" * 200


def test_redact() -> None:
    assert checkpoints.redact("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert checkpoints.redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert checkpoints.is_postgres("postgres://h/db") and not checkpoints.is_postgres("sqlite:///x")


# --------------------------------------------------------------------------- the run index


def test_finished_run_is_listed_with_status_and_its_config_snapshot(finished: tuple[Path, RunResult]) -> None:
    repo, result = finished
    meta = list_runs(repo)[result.run_id]
    assert meta["status"] == "done" and meta["change_id"] == result.change_id
    assert meta["config"].endswith("opencode-go.yaml") and meta["checkpointer"].startswith("sqlite:///")
    assert meta["context"]["auto_approve"] is True
    assert (repo / ".sdd" / "configs" / f"{meta['fingerprint']}.json").is_file()


def test_sdd_runs_shows_each_runs_status(finished: tuple[Path, RunResult]) -> None:
    from typer.testing import CliRunner

    from sdd_harness.graph.entry.cli import app

    repo, result = finished
    out = CliRunner().invoke(app, ["runs", "--repo", str(repo)])
    assert out.exit_code == 0, out.output
    line = next(line for line in out.output.splitlines() if result.run_id in line)
    assert "done" in line


def test_a_run_whose_process_died_is_interrupted_and_a_live_one_cannot_be_resumed(
    finished: tuple[Path, RunResult], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(finished[0], repo)
    run_id = finished[1].run_id
    index_path = repo / ".sdd" / "runs.json"
    runs = json.loads(index_path.read_text(encoding="utf-8"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from sdd_harness.graph.entry.api import _owner  # the same fields a running run records

        owner = {**_owner(), "pid": sleeper.pid, "pid_start": None}
        runs[run_id].update(status="running", **owner)
        index_path.write_text(json.dumps(runs), encoding="utf-8")
        assert list_runs(repo)[run_id]["status"] == "running"
        before = stored(repo, run_id)
        with pytest.raises(RunError, match=f"still running \\(process {sleeper.pid}\\)"):
            resume_run(run_id, repo, models=team())
        assert stored(repo, run_id) == before
    finally:
        sleeper.kill()
        sleeper.wait()
    assert list_runs(repo)[run_id]["status"] == "interrupted"
    assert "interrupted" not in index_path.read_text(encoding="utf-8")  # listing derives it, never writes


def test_run_id_cannot_be_reused(finished: tuple[Path, RunResult], slugify_request: str) -> None:
    repo, result = finished
    with pytest.raises(RunError, match="already exists"):
        run_change(slugify_request, repo, "opencode-go", models=team(), run_id=result.run_id)


# --------------------------------------------------------------------------- resume refusals change nothing


def test_resume_unknown_run_id(finished: tuple[Path, RunResult]) -> None:
    repo, result = finished
    before = stored(repo, result.run_id)
    with pytest.raises(RunError, match=f"unknown run id 'nope'.*known runs: .*{result.run_id}"):
        resume_run("nope", repo, models=team())
    assert stored(repo, result.run_id) == before


def test_reading_never_creates_state(tmp_path: Path) -> None:
    assert list_runs(tmp_path) == {}
    with pytest.raises(RunError, match="unknown run id 'x'.*known runs: none"):
        resume_run("x", tmp_path)
    with pytest.raises(RunError, match="does not exist"):
        resume_run("x", tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []


def test_resume_finished_run(finished: tuple[Path, RunResult]) -> None:
    repo, result = finished
    before = stored(repo, result.run_id)
    with pytest.raises(RunError, match="already finished"):
        resume_run(result.run_id, repo, models=team())
    with pytest.raises(RunError, match="not waiting for approval"):
        resume_run(result.run_id, repo, models=team(), answer="approve")
    assert stored(repo, result.run_id) == before
    assert list_runs(repo)[result.run_id]["status"] == "done"


def test_resume_with_another_config_or_store(demo_repo: Path, slugify_request: str, tmp_path: Path) -> None:
    paused = paused_at_propose(demo_repo, tmp_path, slugify_request)
    before = stored(demo_repo, paused.run_id)
    with pytest.raises(RunError, match="different config"):
        resume_run(paused.run_id, demo_repo, "local", models=team(), answer="approve")
    with pytest.raises(RunError, match="checkpointed in sqlite:///.*would read postgresql://u:\\*\\*\\*@"):
        resume_run(paused.run_id, demo_repo, models=team(), answer="approve", checkpoint_url="postgresql://u:p@h/d")
    assert stored(demo_repo, paused.run_id) == before
    assert list_runs(demo_repo)[paused.run_id]["status"] == "awaiting_approval"


def test_resume_with_an_answer_not_understood_then_a_good_one(
    demo_repo: Path, slugify_request: str, tmp_path: Path
) -> None:
    paused = paused_at_propose(demo_repo, tmp_path, slugify_request)
    before = stored(demo_repo, paused.run_id)
    with pytest.raises(RunError, match="'maybe later' not understood; use approve, reject: <feedback>, or stop"):
        resume_run(paused.run_id, demo_repo, models=team(), answer="maybe later")
    assert stored(demo_repo, paused.run_id) == before
    done = resume_run(paused.run_id, demo_repo, models=team(), answer="approve")
    assert done.status == "done", done.reason
    assert list_runs(demo_repo)[paused.run_id]["status"] == "done"


# --------------------------------------------------------------------------- resume uses the run's own settings


def test_resume_keeps_the_runs_context_and_config_snapshot(
    demo_repo: Path, slugify_request: str, tmp_path: Path
) -> None:
    paused = paused_at_propose(demo_repo, tmp_path, slugify_request, approval_gates=[PROPOSE, DESIGN])
    config = tmp_path / "sdd-config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("max_attempts", "x"), encoding="utf-8")
    write_config(tmp_path, approval_gates=[SPEC])  # the file changed since the run started
    with pytest.raises(RunError, match="different config"):
        resume_run(paused.run_id, demo_repo, config, models=team(), answer="approve")

    models = team()
    again = resume_run(paused.run_id, demo_repo, models=models, answer="approve")
    assert again.status == "awaiting_approval"  # the run's own gates (from its context), not the file's
    assert again.interrupt["phase"] == DESIGN
    assert len(models[SPEC].calls) == 1 and len(models[PROPOSE].calls) == 0
    assert list_runs(demo_repo)[paused.run_id]["awaiting"] == DESIGN
    with pytest.raises(RunError, match="unknown context field"):
        resume_run(paused.run_id, demo_repo, models=models, answer="approve", overrides={"gates": []})
    done = resume_run(paused.run_id, demo_repo, models=models, answer="approve", overrides={"approval_gates": []})
    assert done.status == "done", done.reason
