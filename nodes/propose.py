"""sdd-propose: intent, scope and success criteria — the 'why' and 'what', not the 'how'."""

from __future__ import annotations

from typing import Any

import yaml

from sdd_harness.graph.core.artifacts import Proposal
from sdd_harness.graph.core.harness import GateContext, PhaseContext

PHASE = "sdd-propose"
ARTIFACT = "proposal.md"


def exploration_brief(ctx: PhaseContext) -> str:
    ex = ctx.output("sdd-explore")
    if not ex:
        return "(no exploration)"
    return (
        f"Current state: {ex.get('current_state', '')}\nAffected files: {', '.join(ex.get('affected_files', []))}\n"
        f"Recommendation: {ex.get('recommendation', '')}\nRisks: {'; '.join(ex.get('risks', []))}"
    )


async def run(ctx: PhaseContext) -> dict[str, Any]:
    template = ctx.state.get("spec_template")
    seeded = (
        f"\n\nFilled spec template (authoritative):\n{yaml.safe_dump(template, sort_keys=False)}" if template else ""
    )
    user = f"Change request:\n{ctx.request}{seeded}\n\nExploration:\n{exploration_brief(ctx)}"
    proposal = await ctx.ask(Proposal, user)
    rel = await ctx.write_artifact(ARTIFACT, proposal.render())
    return {"outputs": {PHASE: proposal.model_dump()}, "artifacts": {PHASE: rel}}


def check(ctx: GateContext) -> list[str]:
    out = (ctx.state.get("outputs") or {}).get(PHASE) or {}
    problems = []
    if not out.get("success_criteria"):
        problems.append("proposal has no success criteria")
    if not ctx.workspace.exists(ctx.paths.rel(ARTIFACT)):
        problems.append(f"{ctx.paths.rel(ARTIFACT)} was not written")
    return problems
