"""Budgets: what a run has spent, against what its settings allow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sdd_harness.graph.core.config import RunSettings
from sdd_harness.graph.core.usage import totals


def budget_problem(calls: Sequence[dict[str, Any]], settings: RunSettings) -> str | None:
    """Why the run must stop for its budget (cost or tokens), or None while it is within both."""
    spent = totals(list(calls))
    if settings.budget_usd is not None and spent["cost_usd"] > settings.budget_usd:
        return f"cost ${spent['cost_usd']:.4f} exceeds the budget ${settings.budget_usd:.4f}"
    tokens = spent["input_tokens"] + spent["output_tokens"]
    if settings.token_budget is not None and tokens > settings.token_budget:
        return f"{tokens} tokens exceed the token budget {settings.token_budget}"
    return None
