"""The run index: which runs a repository has, their status, who runs them, how to rebuild them.

The checkpoints are the truth about a run's state; the index is what ``sdd runs`` shows and what ``resume``
and ``undo`` need (config snapshot, runtime context, checkpoint store, git record).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as LockTimeout

from sdd_harness.graph.core.config import HarnessConfig, parse_config
from sdd_harness.graph.infra import checkpoints
from sdd_harness.graph.infra.checkpoints import state_dir

ACTIVE = "running"
INDEX_LOCK_TIMEOUT_S = 30.0
INTERRUPTED = "interrupted"  # the process running it died (killed, crashed machine): resume it
UNDONE = "undone"  # `sdd undo` rolled it back: its branch is gone, it cannot be resumed


class RunError(Exception):
    """A run that cannot be started or resumed as asked; the stored run is untouched."""


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
            self._write(self.load(), run_id, fields)

    def _write(self, runs: dict[str, dict[str, Any]], run_id: str, fields: dict[str, Any]) -> None:
        """Update one entry and replace the file atomically; the caller holds the lock."""
        runs[run_id] = {**runs.get(run_id, {}), **fields, "updated": _now()}
        tmp = self.path.with_name(f"runs.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(runs, indent=2), encoding="utf-8")
        tmp.replace(self.path)

    def register(self, run_id: str, *, request: str, config: HarnessConfig, source: str) -> bool:
        """Record a run started outside ``run_change`` (e.g. in Studio) once; an existing entry is left alone.

        Returns whether it was added. Its checkpoints live in that server's store, so ``resume`` points there.
        """
        fields = {
            "request": request[:200],
            "config": config.source_file,
            "fingerprint": self.save_config(config),
            "status": ACTIVE,
            "reason": "",
            "started": _now(),
            "checkpointer": source,
            "source": source,
            **_owner(),
        }
        with self._locked():
            runs = self.load()
            if run_id in runs:
                return False
            self._write(runs, run_id, fields)
        return True

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
