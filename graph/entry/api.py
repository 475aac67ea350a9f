"""The script API: run a change in a few lines, resume one, list runs, undo one.

    from sdd_harness.graph.entry.api import run_change
    result = run_change("Add slugify() to textkit/strings.py", repo="path/to/repo", config="local", auto_approve=True)
    print(result.status, result.report_path)

Runs are durable: state is checkpointed after every phase (SQLite under ``<repo>/.sdd/`` by default, Postgres
with ``checkpoint_url=``/``SDD_CHECKPOINT_URL``, see ``graph.infra.checkpoints``), so a crash, a kill or a stop
(budget, reviewer) resumes where it left off without paying again for finished phases. In a git repository
each run works on its own branch and ``undo_run`` rolls it back (see ``graph.entry.gitrun``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdd_harness.graph.core.config import HarnessConfig, load_config, resolve_config_path
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.models import ModelOverride, ModelRegistry
from sdd_harness.graph.core.usage import budget_warnings
from sdd_harness.graph.entry import gitrun
from sdd_harness.graph.entry.gitrun import undo_run
from sdd_harness.graph.entry.resume import resume_config, resume_payload, same_store, stored_context
from sdd_harness.graph.entry.runindex import (
    ACTIVE,
    INTERRUPTED,
    RunError,
    RunIndex,
    _alive,
    _now,
    _owner,
)
from sdd_harness.graph.infra import checkpoints
from sdd_harness.graph.infra.checkpoints import CheckpointError, open_checkpointer

Approver = Callable[[dict[str, Any]], Any]
EventHandler = Callable[[dict[str, Any]], None]


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
    warnings: list[str] = field(default_factory=list)  # e.g. not a git repo: nothing can be rolled back


@asynccontextmanager
async def sqlite_checkpointer(repo: Path):
    """Kept for callers of the old name; see ``sdd_harness.graph.infra.checkpoints.open_checkpointer``."""
    async with open_checkpointer(repo) as saver:
        yield saver


@asynccontextmanager
async def _checkpointer(repo: Path, url: str | None):
    try:
        async with open_checkpointer(repo, url) as saver:
            yield saver
    except CheckpointError as err:
        raise RunError(str(err)) from None


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
    from sdd_harness.graph.core.report import build_report

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
    checkpoint_url: str | None = None,
    git_branch: bool | None = None,
    allow_dirty: bool = False,
) -> RunResult:
    """Run a change end to end (async). See ``run_change``."""
    from sdd_harness.graph.core.builder import build_graph, make_harness

    repo = Path(repo).resolve()
    cfg = _load(config)
    if not repo.is_dir():
        raise RunError(f"repository {repo} does not exist or is not a folder")
    harness = make_harness(cfg, models, prompt_dir)  # every phase's code loads before anything is written
    harness.registry.check_ready()
    index = RunIndex(repo)
    if run_id is not None and index.get(run_id) is not None:
        raise RunError(f"run id {run_id!r} already exists in {repo}; resume it (`sdd resume {run_id}`) or pick another")
    run_id = run_id or uuid.uuid4().hex[:12]
    ctx = context or Context(repo=str(repo), auto_approve=auto_approve)
    url = checkpoints.checkpoint_url(checkpoint_url)
    change_id = gitrun.change_id_for(request, repo, cfg)
    payload: dict[str, Any] = {"request": request, "change_id": change_id}
    if spec_template:
        payload["spec_template"] = spec_template
    _hold_embedded(cfg)
    try:
        async with _checkpointer(repo, url) as saver:
            record, notes = gitrun.start(
                repo, run_id, change_id, cfg, index, branch=git_branch, allow_dirty=allow_dirty
            )
            ctx = dataclasses.replace(ctx, git=record.model_dump() if record else None)
            notes += budget_warnings(cfg, harness.settings(ctx), {r: harness.registry.binding(r) for r in cfg.roles()})
            _warn(on_event, notes)
            index.save(
                run_id,
                request=request[:200],
                config=cfg.source_file,
                fingerprint=index.save_config(cfg),
                status=ACTIVE,
                reason="",
                started=_now(),
                checkpointer=checkpoints.describe(repo, url),
                context=dataclasses.asdict(ctx),
                prompt_dir=str(Path(prompt_dir).resolve()) if prompt_dir else None,
                change_id=change_id,
                git=ctx.git,
                source="cli",
                **_owner(),
            )
            graph = build_graph(harness, checkpointer=saver)
            thread = {"configurable": {"thread_id": run_id}}
            try:
                pending, values = await _leg(index, run_id, graph, payload, thread, ctx, approver, on_event)
            finally:  # done, failed, paused or interrupted: what the run wrote is committed on its branch
                notes += _warn(on_event, await gitrun.finish(repo, record, cfg))
    finally:
        _stop_embedded(cfg)
    return _finish(index, run_id, values, pending, repo, notes)


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
    checkpoint_url: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunResult:
    """Continue a stopped, crashed or paused run from its last checkpoint.

    Uses the run's own config, runtime context and checkpoint store unless told otherwise: ``context`` replaces
    the stored context, ``overrides`` changes some of its fields (e.g. ``{"budget_usd": 5}``). Raises ``RunError``
    (and changes nothing) for an unknown or finished run, a run still running elsewhere, a different config,
    another checkpoint store, or an approval answer that is not understood.
    """
    from langgraph.types import Command

    from sdd_harness.graph.core.builder import build_graph

    repo = Path(repo).resolve()
    if not repo.is_dir():
        raise RunError(f"repository {repo} does not exist or is not a folder")
    index = RunIndex(repo)
    runs = index.load()
    meta = runs.get(run_id)
    if meta is None:
        known = ", ".join(sorted(runs)) or "none"
        raise RunError(f"unknown run id {run_id!r} in {repo}; known runs: {known}")
    if meta.get("source", "cli") != "cli":
        raise RunError(f"run {run_id} was started in {meta['source']} and is checkpointed there; resume it there")
    if meta.get("status") == ACTIVE and meta.get("pid") != os.getpid() and _alive(meta):
        raise RunError(f"run {run_id} is still running (process {meta.get('pid')}); wait for it or stop it first")
    gitrun.refuse_undone(run_id, meta)
    cfg = resume_config(index, run_id, meta, config)
    url = checkpoints.checkpoint_url(checkpoint_url)
    where = checkpoints.describe(repo, url)
    if not same_store(meta.get("checkpointer"), where):
        raise RunError(
            f"run {run_id} is checkpointed in {meta['checkpointer']}, but this resume would read {where}; "
            f"set {checkpoints.ENV_URL} (or pass checkpoint_url=) to the run's store"
        )
    ModelRegistry(cfg, models).check_ready()
    ctx = context or stored_context(meta, repo)
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(Context)}
        if unknown:
            raise RunError(f"unknown context field(s) {', '.join(sorted(unknown))}")
        ctx = dataclasses.replace(ctx, **overrides)
    ctx = dataclasses.replace(ctx, git=meta.get("git"))  # the run's own record, whatever the caller passed
    _hold_embedded(cfg)
    try:
        async with _checkpointer(repo, url) as saver:
            graph = build_graph(cfg, models=models, checkpointer=saver, prompt_dir=meta.get("prompt_dir"))
            thread = {"configurable": {"thread_id": run_id}}
            snapshot = await graph.aget_state(thread)
            if not snapshot.values and not snapshot.next:
                raise RunError(f"nothing is checkpointed for run {run_id} in {where}; start the change again")
            payload = resume_payload(run_id, snapshot, answer)
            record, notes = gitrun.resume(repo, run_id, meta, index)
            _warn(on_event, notes)
            index.save(run_id, status=ACTIVE, reason="", resumed=_now(), **_owner())
            if payload == "restart-from-pending":
                payload = Command(goto=snapshot.values["pending_phase"], update={"status": "running"})
            elif isinstance(payload, dict):
                payload = Command(resume=payload["resume"])
            try:
                pending, values = await _leg(index, run_id, graph, payload, thread, ctx, approver, on_event)
            finally:  # done, failed, paused or interrupted: what the run wrote is committed on its branch
                notes += _warn(on_event, await gitrun.finish(repo, record, cfg))
    finally:
        _stop_embedded(cfg)
    return _finish(index, run_id, values, pending, repo, notes)


def _warn(on_event: EventHandler | None, messages: list[str]) -> list[str]:
    """Show warnings (no git, a failed commit) as events; they also end up in ``RunResult.warnings``."""
    for message in messages if on_event else ():
        on_event({"event": "warning", "message": message})
    return messages


async def _leg(
    index: RunIndex,
    run_id: str,
    graph: Any,
    payload: Any,
    thread: dict[str, Any],
    context: Context,
    approver: Approver | None,
    on_event: EventHandler | None,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Run until the graph ends or pauses; record in the index how it went if it blew up."""
    try:
        pending = await _run_loop(graph, payload, thread, context, approver, on_event)
        return pending, (await graph.aget_state(thread)).values
    except (KeyboardInterrupt, asyncio.CancelledError):
        index.save(run_id, status=INTERRUPTED, reason="interrupted; resume continues after the last finished phase")
        raise
    except BaseException as err:
        index.save(run_id, status="failed", reason=f"{type(err).__name__}: {err}"[:300])
        raise


def _finish(
    index: RunIndex,
    run_id: str,
    values: dict[str, Any],
    pending: dict[str, Any] | None,
    repo: Path,
    notes: list[str],
) -> RunResult:
    result = _result(run_id, values, pending, repo)
    result.warnings = list(notes)
    index.save(
        run_id,
        status=result.status,
        reason=result.reason[:300],
        change_id=result.change_id,
        awaiting=(pending or {}).get("phase"),
    )
    return result


_EMBEDDED_USERS = 0
_EMBEDDED_LOCK = threading.Lock()


def _hold_embedded(cfg: HarnessConfig) -> None:
    """Count runs using the embedded servers, so one run ending doesn't stop another's model."""
    global _EMBEDDED_USERS
    if _uses_embedded(cfg):
        with _EMBEDDED_LOCK:
            _EMBEDDED_USERS += 1


def _stop_embedded(cfg: HarnessConfig) -> None:
    """Release this run's hold; the last run out stops the llama.cpp servers."""
    global _EMBEDDED_USERS
    if not _uses_embedded(cfg):
        return
    with _EMBEDDED_LOCK:
        _EMBEDDED_USERS = max(0, _EMBEDDED_USERS - 1)
        last = _EMBEDDED_USERS == 0
    if last:
        from sdd_harness.graph.infra.embedded import get_servers

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
    """Continue a stopped, crashed or paused run: ``answer`` answers a pending approval. See ``aresume_run``."""
    return asyncio.run(aresume_run(run_id, repo, config, **kwargs))


def list_runs(repo: str | Path) -> dict[str, dict[str, Any]]:
    """Runs recorded in ``repo``: run id -> request, config, status (running, awaiting_approval, done, failed,
    stopped, budget_exceeded, interrupted = its process died: resume it), reason, started, updated."""
    return RunIndex(Path(repo).resolve()).listing()


def register_current_run(repo: str | Path, request: str, config: HarnessConfig, source: str = "studio") -> str:
    """From inside a graph node: put the run this node belongs to (its LangGraph thread id) in ``repo``'s run index,
    so ``sdd runs`` lists runs started in Studio beside CLI runs. A run already indexed is left as it is."""
    from langgraph.config import get_config

    run_id = str(get_config()["configurable"]["thread_id"])
    RunIndex(Path(repo).resolve()).register(run_id, request=request, config=config, source=source)
    return run_id


def finish_current_run(repo: str | Path, status: str, reason: str) -> None:
    """From inside a graph node: record in ``repo``'s run index how the run this node belongs to ended."""
    from langgraph.config import get_config

    run_id = str(get_config()["configurable"]["thread_id"])
    RunIndex(Path(repo).resolve()).save(run_id, status=status, reason=reason[:300])


__all__ = [
    "RunError",
    "RunResult",
    "arun_change",
    "aresume_run",
    "list_runs",
    "finish_current_run",
    "register_current_run",
    "resume_run",
    "run_change",
    "resolve_config_path",
    "undo_run",
]
