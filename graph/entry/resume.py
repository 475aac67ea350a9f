"""What resuming a run needs: its own config, its runtime context, its checkpoint store, and what to send the
graph (an approval answer, a restart of the phase it stopped in, or nothing after a crash)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sdd_harness.graph.core.config import HarnessConfig, load_config
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.entry.runindex import RunError, RunIndex, config_fingerprint
from sdd_harness.graph.infra import checkpoints


def load(config: HarnessConfig | str | Path) -> HarnessConfig:
    return config if isinstance(config, HarnessConfig) else load_config(config)


def resume_config(
    index: RunIndex, run_id: str, meta: Mapping[str, Any], config: HarnessConfig | str | Path | None
) -> HarnessConfig:
    """The run's own config (its snapshot); a config passed in must be the same one."""
    started_with = f"{meta.get('config')} (fingerprint {meta.get('fingerprint')})"
    if config is not None:
        cfg = load(config)
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
    cfg = load(meta["config"])  # an index entry written before config snapshots existed
    if meta.get("fingerprint") and config_fingerprint(cfg) != meta["fingerprint"]:
        raise RunError(f"run {run_id} was started with {started_with}; that file has changed since")
    return cfg


def stored_context(meta: Mapping[str, Any], repo: Path) -> Context:
    """The runtime context the run started with (gates, budgets, auto-approve), pointed at ``repo``."""
    names = {f.name for f in dataclasses.fields(Context)}
    stored = {k: v for k, v in (meta.get("context") or {}).items() if k in names}
    return Context(**{**stored, "repo": str(repo)})


def same_store(stored: str | None, current: str) -> bool:
    """SQLite in the repo's own .sdd/ travels with the repo; any other store must be the same one."""

    def key(where: str) -> str:
        default = f"/{checkpoints.STATE_DIR}/{checkpoints.SQLITE_FILE}"
        return "repo" if where.startswith("sqlite:///") and where.endswith(default) else where

    return stored is None or key(stored) == key(current)


def resume_payload(run_id: str, snapshot: Any, answer: Any) -> Any:
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
