"""Crash-resume: a run SIGKILLed mid-phase or between phases resumes in a new process without repaying.

The pipeline runs in a CHILD PROCESS (this module run as a script) with scripted fake models that append one
line per model call to a log file (``start <leg> <role>`` / ``end <leg> <role>``, one ``write`` each, so
the lines survive the kill). The parent kills the child

  (a) inside a phase: once apply's first model call has started (apply's fake answers after a delay);
  (b) at a phase boundary: explore's checkpoint is written and the orchestrator is deciding what comes next —
      the child's progress handler blocks on the orchestrator's gate event for explore, so no later phase
      can have started —

then resumes the run with ``resume_run`` in a fresh child and compares per-role call counts and the final
artifacts with an uninterrupted run: only the phase that was killed may be called again.

    python -m tests.integration.test_durability run|resume --repo R --log L --run-id ID [--latency ROLE=S]
        [--block-on-gate PHASE] [--answer approve]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.logged import append_line, logged_team
from tests.fakes.scripted import SLUGIFY_REQUEST

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RUN_ID = "crashrun"
APPLY, EXPLORE = "sdd-apply", "sdd-explore"
VOLATILE_FILES = {"run.json", "run.md"}  # timings, run id, cost per leg
SKIP_DIRS = {".sdd", "__pycache__", ".pytest_cache"}

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDD_CHECKPOINT_URL", raising=False)


# --------------------------------------------------------------------------- the child process


def child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["run", "resume"])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--run-id", default=RUN_ID)
    parser.add_argument("--latency", action="append", default=[], help="ROLE=SECONDS")
    parser.add_argument("--block-on-gate", default=None, help="hang once the orchestrator judged this phase")
    parser.add_argument("--answer", default=None, help="approval answer for a paused run (resume)")
    args = parser.parse_args(argv)
    latency = {role: float(s) for role, s in (item.split("=") for item in args.latency)}

    from sdd_harness.graph.core.context import Context
    from sdd_harness.graph.entry.api import resume_run, run_change

    models = logged_team(args.log, args.mode, latency)

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "gate" and event.get("phase") == args.block_on_gate:
            append_line(args.log, f"boundary {args.mode} {event['phase']}")
            time.sleep(120)  # blocks the event loop: nothing else runs until the parent kills us

    context = Context(repo=str(Path(args.repo).resolve()), auto_approve=True)
    if args.mode == "run":
        request = SLUGIFY_REQUEST
        result = run_change(
            request, args.repo, "opencode-go", models=models, context=context, run_id=args.run_id, on_event=on_event
        )
    else:
        result = resume_run(args.run_id, args.repo, models=models, on_event=on_event, answer=args.answer)
    print(json.dumps({"status": result.status, "reason": result.reason, "run_id": result.run_id}))
    return 0 if result.status == "done" else 1


# --------------------------------------------------------------------------- the parent (tests)


def spawn(mode: str, repo: Path, log: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if k != "SDD_CHECKPOINT_URL"}  # SQLite in the repo unless given
    env = {**base, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "LANGSMITH_TRACING": "false", **(env or {})}
    cmd = [sys.executable, "-m", "tests.integration.test_durability", mode, "--repo", str(repo), "--log", str(log)]
    return subprocess.Popen(
        [*cmd, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 90) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child exited {proc.returncode}\n{out[-2000:]}\n{err[-4000:]}"
    return json.loads(out.strip().splitlines()[-1])


def log_lines(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def calls(lines: list[str], leg: str | None = None) -> Counter[str]:
    """Model calls started per role (optionally in one leg: run or resume)."""
    return Counter(
        parts[2] for parts in (line.split() for line in lines) if parts[0] == "start" and leg in (None, parts[1])
    )


def fresh_repo(folder: Path) -> Path:
    repo = folder / "demo-repo"
    shutil.copytree(EXAMPLES / "demo-repo", repo, ignore=shutil.ignore_patterns(*SKIP_DIRS))
    return repo


def artifacts(repo: Path) -> dict[str, str]:
    """Every file the run leaves in the repo, with dates and durations blanked (run id and timings differ)."""
    found = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if path.is_dir() or SKIP_DIRS & set(rel.parts) or path.name in VOLATILE_FILES:
            continue
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\b\d+(\.\d+)?s\b", "<secs>", re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", text))
        found[re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", rel.as_posix())] = text
    return found


def checkpointed(repo: Path) -> dict[str, Any]:
    """The run's latest checkpoint, read as a separate process would (the killed one is gone)."""
    import asyncio

    from sdd_harness.graph.core.builder import build_graph
    from sdd_harness.graph.infra.checkpoints import open_checkpointer

    async def read() -> Any:
        async with open_checkpointer(repo) as saver:
            graph = build_graph("opencode-go", checkpointer=saver)
            return await graph.aget_state({"configurable": {"thread_id": RUN_ID}})

    snapshot = asyncio.run(read())
    return {"values": snapshot.values, "next": snapshot.next}


def kill_when(proc: subprocess.Popen, log: Path, ready: Callable[[list[str]], bool], timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(log)
        if ready(lines):
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            return lines
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child ended before the kill point ({proc.returncode}):\n{out}\n{err[-3000:]}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"kill point never reached; log: {log_lines(log)}")


@dataclass
class Baseline:
    calls: Counter[str]
    artifacts: dict[str, str]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The same run, uninterrupted (in this process: same fakes, same logging, one interpreter start less)."""
    from sdd_harness.graph.core.context import Context
    from sdd_harness.graph.entry.api import run_change

    folder = tmp_path_factory.mktemp("baseline")
    repo, log = fresh_repo(folder), folder / "calls.log"
    request = SLUGIFY_REQUEST
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        mp.delenv("SDD_CHECKPOINT_URL", raising=False)
        models = logged_team(str(log), "run", {})
        result = run_change(
            request, repo, "opencode-go", models=models, context=Context(repo=str(repo), auto_approve=True)
        )
    assert result.status == "done", result.reason
    return Baseline(calls(log_lines(log)), artifacts(repo))


def resume_and_compare(repo: Path, log: Path, baseline: Baseline, killed_phase: str | None) -> Counter[str]:
    from sdd_harness.graph.entry.api import list_runs

    assert list_runs(repo)[RUN_ID]["status"] == "interrupted"  # the index knows its process died
    started = time.monotonic()
    result = finish(spawn("resume", repo, log))
    print(f"resume leg: {time.monotonic() - started:.1f}s")
    assert result["status"] == "done", result
    assert list_runs(repo)[RUN_ID]["status"] == "done"
    lines = log_lines(log)
    total = calls(lines)
    for role, count in baseline.calls.items():
        if role == killed_phase:
            assert total[role] > count, (role, total, baseline.calls)  # the killed call was made again
        else:
            assert total[role] == count, f"{role}: {total[role]} calls vs {count} uninterrupted"
    assert set(total) == set(baseline.calls)
    assert artifacts(repo) == baseline.artifacts
    return total


def test_kill_inside_apply_then_resume_repeats_only_apply(tmp_path: Path, baseline: Baseline) -> None:
    repo, log = fresh_repo(tmp_path), tmp_path / "calls.log"
    proc = spawn("run", repo, log, "--run-id", RUN_ID, "--latency", f"{APPLY}=1.5")
    killed = kill_when(proc, log, lambda lines: f"start run {APPLY}" in lines)
    assert f"end run {APPLY}" not in killed  # killed inside apply's first model call
    state = checkpointed(repo)
    assert state["next"] == (APPLY,) and "sdd-tasks" in state["values"]["outputs"]  # tasks' checkpoint is there

    total = resume_and_compare(repo, log, baseline, APPLY)
    resumed = calls(log_lines(log), "resume")
    assert set(resumed) == {APPLY, "sdd-archive"}  # nothing before apply was asked again (verify asks no model)
    print(f"kill in apply: run leg {dict(calls(killed, 'run'))}, resume leg {dict(resumed)}, total {dict(total)}")


def test_kill_at_phase_boundary_then_resume_repeats_nothing(tmp_path: Path, baseline: Baseline) -> None:
    repo, log = fresh_repo(tmp_path), tmp_path / "calls.log"
    proc = spawn("run", repo, log, "--run-id", RUN_ID, "--block-on-gate", EXPLORE)
    killed = kill_when(proc, log, lambda lines: f"boundary run {EXPLORE}" in lines)
    assert set(calls(killed)) == {"sdd-init", EXPLORE}  # explore finished, propose not started
    assert all(line.startswith(("end", "boundary")) for line in killed[-2:])
    state = checkpointed(repo)
    assert EXPLORE in state["values"]["outputs"] and "sdd-propose" not in state["values"]["outputs"]
    assert state["next"] == ("orchestrator",)  # explore's checkpoint is the last one written

    total = resume_and_compare(repo, log, baseline, None)
    resumed = calls(log_lines(log), "resume")
    assert "sdd-init" not in resumed and EXPLORE not in resumed
    print(f"kill at boundary: run leg {dict(calls(killed, 'run'))}, resume leg {dict(resumed)}, total {dict(total)}")


if __name__ == "__main__":
    sys.exit(child_main())
