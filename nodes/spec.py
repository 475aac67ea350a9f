"""sdd-spec: requirement deltas with scenarios, rendered to OpenSpec markdown by code."""

from __future__ import annotations

from typing import Any

import yaml

from graph.harness import GateContext, PhaseContext
from graph.openspec import SpecDeltaSet, check_change, write_change_specs
from nodes.explore import existing_specs

PHASE = "sdd-spec"


def proposal_brief(ctx: PhaseContext) -> str:
    p = ctx.output("sdd-propose")
    return (
        f"Why: {p.get('why', '')}\nWhat changes:\n"
        + "\n".join(f"- {w}" for w in p.get("what_changes", []))
        + "\nSuccess criteria:\n"
        + "\n".join(f"- {c}" for c in p.get("success_criteria", []))
    )


async def run(ctx: PhaseContext) -> dict[str, Any]:
    specs = await ctx.io(existing_specs, ctx.paths.openspec, 2500)
    template = ctx.state.get("spec_template")
    seeded = (
        f"\n\nFilled spec template (authoritative):\n{yaml.safe_dump(template, sort_keys=False)}" if template else ""
    )
    user = (
        f"Change request:\n{ctx.request}{seeded}\n\nProposal:\n{proposal_brief(ctx)}\n\n"
        f"Existing specs (capability: requirement names):\n{specs or '(none: every capability is new)'}"
    )
    delta_set = await ctx.ask(SpecDeltaSet, user)
    written = await ctx.io(write_change_specs, ctx.paths.root, ctx.paths.change_id, delta_set)
    rels = [ctx.workspace.rel(p) for p in written]
    return {"outputs": {PHASE: delta_set.model_dump()}, "artifacts": {PHASE: ", ".join(rels)}}


def check(ctx: GateContext) -> list[str]:
    if not (ctx.state.get("outputs") or {}).get(PHASE):
        return ["no spec deltas were produced"]
    return check_change(ctx.paths.root, ctx.paths.change_id)
