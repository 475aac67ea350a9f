"""The run index (``<repo>/.sdd/runs.json``) is written by every run, CLI and Studio alike: concurrent writers
must not lose each other's runs, and a hung writer must not hang everyone else forever."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from filelock import FileLock

from sdd_harness.graph.entry import runindex
from sdd_harness.graph.entry.api import RunError, RunIndex

WRITERS, RUNS_EACH = 4, 15


def _write_runs(repo: str, writer: int) -> None:
    index = RunIndex(Path(repo))
    for n in range(RUNS_EACH):
        index.save(f"run-{writer}-{n}", status="running", request=f"change {writer}/{n}")


def test_concurrent_processes_and_threads_lose_no_run(tmp_path: Path) -> None:
    fork = multiprocessing.get_context("fork")  # children share the imported modules: no second cold start
    processes = [fork.Process(target=_write_runs, args=(str(tmp_path), w)) for w in range(WRITERS)]
    threads = [threading.Thread(target=_write_runs, args=(str(tmp_path), WRITERS + w)) for w in range(WRITERS)]
    for worker in [*processes, *threads]:
        worker.start()
    for thread in threads:
        thread.join(timeout=60)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    runs = json.loads((tmp_path / ".sdd" / "runs.json").read_text(encoding="utf-8"))
    assert len(runs) == 2 * WRITERS * RUNS_EACH
    assert runs["run-5-14"]["request"] == "change 5/14"


def test_a_hung_writer_gives_a_clear_error_after_the_bound_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = RunIndex(tmp_path)
    index.save("kept", status="done")
    before = index.path.read_text(encoding="utf-8")
    monkeypatch.setattr(runindex, "INDEX_LOCK_TIMEOUT_S", 0.3)
    with FileLock(tmp_path / ".sdd" / "runs.lock"), pytest.raises(RunError, match=r"runs\.lock stayed locked"):
        index.save("new", status="running")
    assert index.path.read_text(encoding="utf-8") == before
    index.save("new", status="running")  # released: the next save goes through
    assert set(index.load()) == {"kept", "new"}
