"""Graph state: what flows between phases and survives in checkpoints.

Everything here is plain JSON-able data (dicts of pydantic dumps) so checkpoints stay small and portable.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from typing_extensions import TypedDict

RunStatus = Literal["running", "done", "failed", "stopped", "budget_exceeded", "rejected"]


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Shallow-merge reducer: a phase updates its own keys without clobbering others."""
    return {**(left or {}), **(right or {})}


def add_numbers(left: dict[str, float] | None, right: dict[str, float] | None) -> dict[str, float]:
    """Accumulating reducer: a phase that runs twice reports its total time."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged[key] = round(merged.get(key, 0.0) + value, 3)
    return merged


def step_reducer(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Phases finished since the orchestrator last ran (parallel phases add up; None clears)."""
    return [] if right is None else [*(left or []), *right]


def merge_or_reset(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Like merge_dicts, but None starts over (a new task plan resets apply's per-task results)."""
    return {} if right is None else {**(left or {}), **right}


class InputState(TypedDict, total=False):
    """What a caller provides to start a run."""

    request: str
    spec_template: dict[str, Any]
    change_id: str


class SDDState(InputState, total=False):
    """The full run state."""

    outputs: Annotated[dict[str, Any], merge_dicts]
    artifacts: Annotated[dict[str, str], merge_dicts]
    attempts: Annotated[dict[str, int], merge_dicts]
    feedback: Annotated[dict[str, str], merge_dicts]
    errors: Annotated[dict[str, str], merge_dicts]
    decisions: Annotated[list[dict[str, Any]], operator.add]
    calls: Annotated[list[dict[str, Any]], operator.add]
    timings: Annotated[dict[str, float], add_numbers]
    apply_results: Annotated[dict[str, Any], merge_or_reset]
    apply_task: int
    apply_log: Annotated[list[dict[str, Any]], operator.add]
    last_phase: str
    next_phase: str
    next_phases: list[str]
    step_phases: Annotated[list[str], step_reducer]
    pending_phase: str
    status: RunStatus
    status_reason: str
