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


def add_spans(
    left: dict[str, list[list[float]]] | None, right: dict[str, list[list[float]]] | None
) -> dict[str, list[list[float]]]:
    """Wall-clock [start, end] spans per phase; kept apart so parallel apply workers are not summed."""
    merged = {key: list(value) for key, value in (left or {}).items()}
    for key, value in (right or {}).items():
        merged[key] = [*merged.get(key, []), *value]
    return merged


def busy_seconds(spans: list[list[float]]) -> float:
    """Time covered by the union of spans: reruns add up, overlapping (parallel) runs do not."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return round(total, 3)


def phase_seconds(state: dict[str, Any]) -> float:
    """The run's phase time so far, over every leg of it (a resume adds to it; approval waits do not count)."""
    return busy_seconds([span for spans in (state.get("spans") or {}).values() for span in spans])


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
    spans: Annotated[dict[str, list[list[float]]], add_spans]
    apply_results: Annotated[dict[str, Any], merge_or_reset]
    apply_task: int
    apply_log: Annotated[list[dict[str, Any]], operator.add]
    step_phases: Annotated[list[str], step_reducer]
    pending_phase: str
    status: RunStatus
    status_reason: str
