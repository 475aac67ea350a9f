"""The script API: run a change in a few lines, resume one, list runs.

    from sdd_harness.graph.entry.api import run_change
    result = run_change("Add slugify() to textkit/strings.py", repo="path/to/repo", config="local", auto_approve=True)
    print(result.status, result.report_path)

Runs are durable: state is checkpointed after every phase (SQLite under ``<repo>/.sdd/`` by default, Postgres
with ``checkpoint_url=``/``SDD_CHECKPOINT_URL``, see ``graph.infra.checkpoints``), so a crash, a kill or a stop
(budget, reviewer) resumes where it left off without paying again for finished phases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as LockTimeout

from sdd_harness.graph.core.config import HarnessConfig, load_config, parse_config, resolve_config_path
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.models import ModelOverride, ModelRegistry
from sdd_harness.graph.infra import checkpoints
from sdd_harness.graph.infra.checkpoints import CheckpointError, open_checkpointer, state_dir

Approver = Callable[[dict[str, Any]], Any]
EventHandler = Callable[[dict[str, Any]], None]
ACTIVE = "running"
INDEX_LOCK_TIMEOUT_S = 30.0
INTERRUPTED = "interrupted"  # the process running it died (killed, crashed machine): resume it


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


def config_fingerprint(config: HarnessConfig) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), so a recycled pid is not mistaken for the run's process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(meta: Mapping[str, Any]) -> bool | None:
    """Is the process that marked this run as running still alive? None when this machine cannot tell."""
    pid = meta.get("pid")
    if not isinstance(pid, int) or meta.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = meta.get("pid_start")
    return started is None or _process_start(pid) in (None, started)


class RunIndex:
    """A small JSON index of runs beside the checkpoints: id, request, config, status, who runs it.

    The checkpoints are the truth about a run's state; the index is what ``sdd runs`` shows and what
    ``resume`` needs to rebuild the run (its config snapshot, its runtime context, where it is checkpointed).
    """

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.dir = repo / checkpoints.STATE_DIR  # created on the first write, never by reading
        self.path = self.dir / "runs.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer of runs.json at a time, across processes and threads (filelock: flock on POSIX, msvcrt on
        Windows). A save takes milliseconds, so a lock held for ``INDEX_LOCK_TIMEOUT_S`` means a hung writer."""
        state_dir(self.repo)
        lock = FileLock(self.dir / "runs.lock", timeout=INDEX_LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except LockTimeout:
            raise RunError(
                f"{lock.lock_file} stayed locked for {INDEX_LOCK_TIMEOUT_S:.0f} s: another sdd process is stuck "
                "writing the run index; stop it and retry (the runs and their checkpoints are untouched)"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        except json.JSONDecodeError as err:
            raise RunError(f"{self.path} is corrupt ({err}); fix or delete it (checkpoints are kept apart)") from None

    def get(self, run_id: str) -> dict[str, Any] | None:
        return self.load().get(run_id)

    def save(self, run_id: str, **fields: Any) -> None:
        with self._locked():
            runs = self.load()
            runs[run_id] = {**runs.get(run_id, {}), **fields, "updated": _now()}
            tmp = self.path.with_name(f"runs.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(runs, indent=2), encoding="utf-8")
            tmp.replace(self.path)

    def listing(self) -> dict[str, dict[str, Any]]:
        """Runs with a live status: a run left 'running' by a dead process shows as 'interrupted'."""
        runs = self.load()
        for meta in runs.values():
            if meta.get("status") == ACTIVE and _alive(meta) is False:
                meta["status"] = INTERRUPTED
                meta.setdefault("reason", "its process ended without finishing; `sdd resume` continues it")
        return runs

    def save_config(self, config: HarnessConfig) -> str:
        """Keep the exact config a run started with, so resume uses it even if the file changes."""
        fingerprint = config_fingerprint(config)
        folder = state_dir(self.repo) / "configs"
        folder.mkdir(exist_ok=True)
        path = folder / f"{fingerprint}.json"
        if not path.exists():
            tmp = path.with_name(f"{fingerprint}.{os.getpid()}.tmp")
            tmp.write_text(config.model_dump_json(indent=1), encoding="utf-8")
            tmp.replace(path)
        return fingerprint

    def load_config(self, meta: Mapping[str, Any]) -> HarnessConfig | None:
        path = self.dir / "configs" / f"{meta.get('fingerprint')}.json"
        if not path.is_file():
            return None
        return parse_config(json.loads(path.read_text(encoding="utf-8")), meta.get("config") or "<memory>")


def _owner() -> dict[str, Any]:
    return {"pid": os.getpid(), "pid_start": _process_start(os.getpid()), "host": socket.gethostname()}


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
) -> RunResult:
    """Run a change end to end (async). See ``run_change``."""
    from sdd_harness.graph.core.builder import build_graph

    repo = Path(repo).resolve()
    cfg = _load(config)
    if not repo.is_dir():
        raise RunError(f"repository {repo} does not exist or is not a folder")
    ModelRegistry(cfg, models).check_keys()
    index = RunIndex(repo)
    if run_id is not None and index.get(run_id) is not None:
        raise RunError(f"run id {run_id!r} already exists in {repo}; resume it (`sdd resume {run_id}`) or pick another")
    run_id = run_id or uuid.uuid4().hex[:12]
    ctx = context or Context(repo=str(repo), auto_approve=auto_approve)
    url = checkpoints.checkpoint_url(checkpoint_url)
    payload: dict[str, Any] = {"request": request}
    if spec_template:
        payload["spec_template"] = spec_template
    _hold_embedded(cfg)
    try:
        async with _checkpointer(repo, url) as saver:
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
                **_owner(),
            )
            graph = build_graph(cfg, models=models, checkpointer=saver, prompt_dir=prompt_dir)
            thread = {"configurable": {"thread_id": run_id}}
            pending, values = await _leg(index, run_id, graph, payload, thread, ctx, approver, on_event)
    finally:
        _stop_embedded(cfg)
    return _finish(index, run_id, values, pending, repo)


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
    if meta.get("status") == ACTIVE and meta.get("pid") != os.getpid() and _alive(meta):
        raise RunError(f"run {run_id} is still running (process {meta.get('pid')}); wait for it or stop it first")
    cfg = _resume_config(index, run_id, meta, config)
    url = checkpoints.checkpoint_url(checkpoint_url)
    where = checkpoints.describe(repo, url)
    if not _same_store(meta.get("checkpointer"), where):
        raise RunError(
            f"run {run_id} is checkpointed in {meta['checkpointer']}, but this resume would read {where}; "
            f"set {checkpoints.ENV_URL} (or pass checkpoint_url=) to the run's store"
        )
    ModelRegistry(cfg, models).check_keys()
    ctx = context or _stored_context(meta, repo)
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(Context)}
        if unknown:
            raise RunError(f"unknown context field(s) {', '.join(sorted(unknown))}")
        ctx = dataclasses.replace(ctx, **overrides)
    _hold_embedded(cfg)
    try:
        async with _checkpointer(repo, url) as saver:
            graph = build_graph(cfg, models=models, checkpointer=saver, prompt_dir=meta.get("prompt_dir"))
            thread = {"configurable": {"thread_id": run_id}}
            snapshot = await graph.aget_state(thread)
            if not snapshot.values and not snapshot.next:
                raise RunError(f"nothing is checkpointed for run {run_id} in {where}; start the change again")
            payload = _resume_payload(run_id, snapshot, answer)
            index.save(run_id, status=ACTIVE, reason="", resumed=_now(), **_owner())
            if payload == "restart-from-pending":
                await graph.aupdate_state(
                    thread,
                    {"status": "running", "next_phase": snapshot.values["pending_phase"]},
                    as_node="orchestrator",
                )
                payload = None
            elif isinstance(payload, dict):
                payload = Command(resume=payload["resume"])
            pending, values = await _leg(index, run_id, graph, payload, thread, ctx, approver, on_event)
    finally:
        _stop_embedded(cfg)
    return _finish(index, run_id, values, pending, repo)


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
    index: RunIndex, run_id: str, values: dict[str, Any], pending: dict[str, Any] | None, repo: Path
) -> RunResult:
    result = _result(run_id, values, pending, repo)
    index.save(
        run_id,
        status=result.status,
        reason=result.reason[:300],
        change_id=result.change_id,
        awaiting=(pending or {}).get("phase"),
    )
    return result


def _resume_config(
    index: RunIndex, run_id: str, meta: Mapping[str, Any], config: HarnessConfig | str | Path | None
) -> HarnessConfig:
    """The run's own config (its snapshot); a config passed in must be the same one."""
    started_with = f"{meta.get('config')} (fingerprint {meta.get('fingerprint')})"
    if config is not None:
        cfg = _load(config)
        if config_fingerprint(cfg) != meta.get("fingerprint"):
            raise RunError(
                f"run {run_id} was started with {started_with}; {cfg.source_file} "
                f"(fingerprint {config_fingerprint(cfg)}) is a different config. Resume without a config to use "
                "the run's own, or start a new run"
            )
        return cfg
    snapshot = index.load_config(meta)
    if snapshot is not None:
        return snapshot
    cfg = _load(meta["config"])  # an index entry written before config snapshots existed
    if meta.get("fingerprint") and config_fingerprint(cfg) != meta["fingerprint"]:
        raise RunError(f"run {run_id} was started with {started_with}; that file has changed since")
    return cfg


def _stored_context(meta: Mapping[str, Any], repo: Path) -> Context:
    """The runtime context the run started with (gates, budgets, auto-approve), pointed at ``repo``."""
    names = {f.name for f in dataclasses.fields(Context)}
    stored = {k: v for k, v in (meta.get("context") or {}).items() if k in names}
    return Context(**{**stored, "repo": str(repo)})


def _same_store(stored: str | None, current: str) -> bool:
    """SQLite in the repo's own .sdd/ travels with the repo; any other store must be the same one."""

    def key(where: str) -> str:
        default = f"/{checkpoints.STATE_DIR}/{checkpoints.SQLITE_FILE}"
        return "repo" if where.startswith("sqlite:///") and where.endswith(default) else where

    return stored is None or key(stored) == key(current)


def _resume_payload(run_id: str, snapshot: Any, answer: Any) -> Any:
    from sdd_harness.nodes.orchestrator import parse_approval

    values = snapshot.values or {}
    status = values.get("status")
    if snapshot.interrupts:
        if answer is None:
            return None  # re-asks the same question
        if parse_approval(answer) is None:
            raise RunError(f"approval answer {answer!r} not understood; use approve, reject: <feedback>, or stop")
        return {"resume": answer}
    if answer is not None:
        raise RunError(f"run {run_id} is not waiting for approval (status {status!r}); resume it without an answer")
    if snapshot.next:
        return None  # crashed or killed mid-run: continue from the last checkpoint
    if status == "done":
        raise RunError(f"run {run_id} already finished (status done); start a new run instead")
    if status in ("budget_exceeded", "failed", "stopped") and values.get("pending_phase"):
        return "restart-from-pending"
    raise RunError(f"run {run_id} has nothing to resume (status {status!r})")


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
