"""The script API: run a change in a few lines, resume one, list runs.

    from graph.api import run_change
    result = run_change("Add slugify() to textkit/strings.py", repo="path/to/repo", config="local", auto_approve=True)
    print(result.status, result.report_path)

Runs are durable: state is checkpointed in SQLite under ``<repo>/.sdd/`` after every phase, so a crash or a
stop (budget, reviewer) resumes where it left off without paying again for finished phases.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.config import HarnessConfig, load_config, resolve_config_path
from graph.context import Context
from graph.models import ModelOverride, ModelRegistry

STATE_DIR = ".sdd"
Approver = Callable[[dict[str, Any]], Any]
EventHandler = Callable[[dict[str, Any]], None]


class RunError(Exception):
    """A run that cannot be started or resumed as asked; the stored run is untouched."""


@dataclass
class RunResult:
    run_id: str
    status: str
    reason: str
    change_id: str | None
    report: dict[str, Any] = field(default_factory=dict)
    report_path: Path | None = None
    interrupt: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)


def state_dir(repo: Path) -> Path:
    path = repo / STATE_DIR
    path.mkdir(parents=True, exist_ok=True)
    gitignore = path / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    return path


def config_fingerprint(config: HarnessConfig) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


class RunIndex:
    """A small JSON index of runs beside the checkpoints (id, request, config, status)."""

    def __init__(self, repo: Path) -> None:
        self.path = state_dir(repo) / "runs.json"

    def load(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}

    def save(self, run_id: str, **fields: Any) -> None:
        runs = self.load()
        runs[run_id] = {**runs.get(run_id, {}), **fields, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(runs, indent=2), encoding="utf-8")
        tmp.replace(self.path)


@asynccontextmanager
async def sqlite_checkpointer(repo: Path):
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(state_dir(repo) / "checkpoints.sqlite")) as saver:
        await saver.conn.execute("PRAGMA journal_mode=WAL")
        await saver.conn.execute("PRAGMA synchronous=NORMAL")
        yield saver


def _load(config: HarnessConfig | str | Path) -> HarnessConfig:
    return config if isinstance(config, HarnessConfig) else load_config(config)


def _uses_embedded(config: HarnessConfig) -> bool:
    return any(config.providers[config.provider_name(b)].embedded for b in config.roles().values())


async def _drive(
    graph: Any, payload: Any, thread: dict[str, Any], context: Context, on_event: EventHandler | None
) -> dict[str, Any] | None:
    """Stream one leg of the run; return the interrupt payload if it paused."""
    pending = None
    async for mode, chunk in graph.astream(
        payload, thread, context=context, stream_mode=["custom", "updates"], durability="sync"
    ):
        if mode == "custom" and on_event:
            on_event(chunk)
        elif mode == "updates" and "__interrupt__" in chunk:
            pending = chunk["__interrupt__"][0].value
    return pending


async def _run_loop(
    graph: Any,
    payload: Any,
    thread: dict[str, Any],
    context: Context,
    approver: Approver | None,
    on_event: EventHandler | None,
) -> dict[str, Any] | None:
    from langgraph.types import Command

    while True:
        pending = await _drive(graph, payload, thread, context, on_event)
        if pending is None or approver is None:
            return pending
        if on_event:
            on_event({"event": "approval", **{k: v for k, v in pending.items() if k != "content"}})
        payload = Command(resume=approver(pending))


def _result(run_id: str, values: dict[str, Any], pending: dict[str, Any] | None, repo: Path) -> RunResult:
    from graph.report import build_report

    status = "awaiting_approval" if pending else values.get("status", "running")
    archive = ((values.get("outputs") or {}).get("sdd-archive") or {}).get("archive_dir")
    change = values.get("change_id")
    folder = repo / archive if archive else (repo / "openspec" / "changes" / change if change else None)
    report_path = folder / "run.md" if folder and (folder / "run.md").is_file() else None
    return RunResult(
        run_id=run_id,
        status=status,
        reason=values.get("status_reason", ""),
        change_id=change,
        report=build_report(values),
        report_path=report_path,
        interrupt=pending,
        state=values,
    )


async def arun_change(
    request: str,
    repo: str | Path,
    config: HarnessConfig | str | Path = "local",
    *,
    models: Mapping[str, ModelOverride] | None = None,
    auto_approve: bool = False,
    approver: Approver | None = None,
    spec_template: dict[str, Any] | None = None,
    run_id: str | None = None,
    context: Context | None = None,
    on_event: EventHandler | None = None,
    prompt_dir: str | Path | None = None,
) -> RunResult:
    """Run a change end to end (async). See ``run_change``."""
    from graph.builder import build_graph

    repo = Path(repo).resolve()
    cfg = _load(config)
    if not repo.is_dir():
        raise RunError(f"repository {repo} does not exist or is not a folder")
    ModelRegistry(cfg, models).check_keys()
    run_id = run_id or uuid.uuid4().hex[:12]
    ctx = context or Context(repo=str(repo), auto_approve=auto_approve)
    index = RunIndex(repo)
    index.save(
        run_id,
        request=request[:200],
        config=cfg.source_file,
        fingerprint=config_fingerprint(cfg),
        status="running",
        started=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    payload: dict[str, Any] = {"request": request}
    if spec_template:
        payload["spec_template"] = spec_template
    try:
        async with sqlite_checkpointer(repo) as saver:
            graph = build_graph(cfg, models=models, checkpointer=saver, prompt_dir=prompt_dir)
            thread = {"configurable": {"thread_id": run_id}}
            pending = await _run_loop(graph, payload, thread, ctx, approver, on_event)
            values = (await graph.aget_state(thread)).values
    except BaseException:
        index.save(run_id, status="failed")
        raise
    finally:
        _stop_embedded(cfg)
    result = _result(run_id, values, pending, repo)
    index.save(run_id, status=result.status, change_id=result.change_id)
    return result


async def aresume_run(
    run_id: str,
    repo: str | Path,
    config: HarnessConfig | str | Path | None = None,
    *,
    models: Mapping[str, ModelOverride] | None = None,
    answer: Any = None,
    approver: Approver | None = None,
    context: Context | None = None,
    on_event: EventHandler | None = None,
) -> RunResult:
    """Continue a stopped, crashed or paused run from its last checkpoint."""
    from langgraph.types import Command

    from graph.builder import build_graph

    repo = Path(repo).resolve()
    index = RunIndex(repo)
    meta = index.load().get(run_id)
    if meta is None:
        known = ", ".join(sorted(index.load())) or "none"
        raise RunError(f"unknown run id {run_id!r} in {repo}; known runs: {known}")
    cfg = _load(config or meta["config"])
    if config is not None and config_fingerprint(cfg) != meta.get("fingerprint"):
        raise RunError(f"run {run_id} was started with {meta['config']}; resume it with the same config")
    ctx = context or Context(repo=str(repo))
    try:
        async with sqlite_checkpointer(repo) as saver:
            graph = build_graph(cfg, models=models, checkpointer=saver)
            thread = {"configurable": {"thread_id": run_id}}
            snapshot = await graph.aget_state(thread)
            payload = _resume_payload(run_id, snapshot, answer)
            if payload == "restart-from-pending":
                await graph.aupdate_state(
                    thread,
                    {"status": "running", "next_phase": snapshot.values["pending_phase"]},
                    as_node="orchestrator",
                )
                payload = None
            elif isinstance(payload, dict):
                payload = Command(resume=payload["resume"])
            pending = await _run_loop(graph, payload, thread, ctx, approver, on_event)
            values = (await graph.aget_state(thread)).values
    finally:
        _stop_embedded(cfg)
    result = _result(run_id, values, pending, repo)
    index.save(run_id, status=result.status, change_id=result.change_id)
    return result


def _resume_payload(run_id: str, snapshot: Any, answer: Any) -> Any:
    from nodes.orchestrator import parse_approval

    values = snapshot.values or {}
    if snapshot.interrupts:
        if answer is None:
            return None  # re-asks the same question
        if parse_approval(answer) is None:
            raise RunError(f"approval answer {answer!r} not understood; use approve, reject: <feedback>, or stop")
        return {"resume": answer}
    if snapshot.next:
        return None  # crashed mid-run: continue from the last checkpoint
    status = values.get("status")
    if status == "done":
        raise RunError(f"run {run_id} already finished (status done); start a new run instead")
    if status in ("budget_exceeded", "failed", "stopped") and values.get("pending_phase"):
        return "restart-from-pending"
    raise RunError(f"run {run_id} has nothing to resume (status {status!r})")


def _stop_embedded(cfg: HarnessConfig) -> None:
    if _uses_embedded(cfg):
        from graph.embedded import get_servers

        get_servers().stop_all()


def run_change(
    request: str, repo: str | Path, config: HarnessConfig | str | Path = "local", **kwargs: Any
) -> RunResult:
    """Run a change end to end: ``models`` injects chat models per role, ``auto_approve`` skips gates,
    ``approver(payload) -> 'approve' | 'reject: why' | 'stop'`` answers them, ``on_event`` sees progress."""
    return asyncio.run(arun_change(request, repo, config, **kwargs))


def resume_run(
    run_id: str, repo: str | Path, config: HarnessConfig | str | Path | None = None, **kwargs: Any
) -> RunResult:
    return asyncio.run(aresume_run(run_id, repo, config, **kwargs))


def list_runs(repo: str | Path) -> dict[str, dict[str, Any]]:
    return RunIndex(Path(repo).resolve()).load()


__all__ = [
    "RunError",
    "RunResult",
    "arun_change",
    "aresume_run",
    "list_runs",
    "resume_run",
    "run_change",
    "resolve_config_path",
]
