"""Runtime context: the per-run settings a caller (CLI, script, Studio form) passes to the graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Context:
    """Per-run settings. Each field's description is what LangGraph Studio shows in its form."""

    repo: str = field(default=".", metadata={"description": "Path of the target repository the change is made in."})
    auto_approve: bool = field(
        default=False, metadata={"description": "Skip every human approval gate (same as `sdd run --auto`)."}
    )
    approval_gates: list[str] | None = field(
        default=None,
        metadata={"description": "Phases after which a human approves; null = the config's run.approval_gates."},
    )
    budget_usd: float | None = field(
        default=None,
        metadata={"description": "Cost cap in USD for this run; null = the config's run.budget_usd."},
    )
    token_budget: int | None = field(
        default=None,
        metadata={"description": "Token cap for this run; null = the config's run.token_budget."},
    )
    time_budget_s: float | None = field(
        default=None,
        metadata={"description": "Phase-time cap in seconds for this run; null = the config's run.time_budget_s."},
    )
    max_attempts: int | None = field(
        default=None, metadata={"description": "Reruns per phase and loop-backs; null = the config's value."}
    )
    git: dict[str, Any] | None = field(
        default=None,
        metadata={
            "description": "Set by `sdd run` / run_change, leave empty: the run's git record (its branch, the files "
            "with uncommitted changes at start that it must not write)."
        },
    )
