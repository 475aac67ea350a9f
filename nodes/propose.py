"""sdd-propose: intent, scope and success criteria — the 'why' and 'what', not the 'how'."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import PROPOSE
from sdd_harness.graph.core.prose import bounded
from sdd_harness.graph.infra.markdown import bullets
from sdd_harness.nodes import explore

ARTIFACT = "proposal.md"


def _at_most(items: int) -> dict[str, int]:
    """A list bound for grammar-constrained servers only (a longer list from another provider is kept): lines
    beyond it are where a small model's proposal ran into its token limit."""
    return {"maxItems": items}


class Proposal(BaseModel):
    """Why and what — no implementation detail."""

    why: bounded(300) = Field(description="The problem or need, 1-3 sentences (at least 50 characters).")
    what_changes: list[bounded(160)] = Field(
        min_length=1, max_length=8, description="Concrete changes, one line each.", json_schema_extra=_at_most(5)
    )
    out_of_scope: list[bounded(120)] = Field(default_factory=list, max_length=5, json_schema_extra=_at_most(3))
    approach: bounded(240) = Field(description="How, in 1-2 sentences.")
    affected_files: list[str] = Field(default_factory=list, json_schema_extra=_at_most(6))
    risks: list[bounded(120)] = Field(default_factory=list, max_length=4, json_schema_extra=_at_most(3))
    success_criteria: list[bounded(160)] = Field(
        min_length=1, max_length=6, description="Checkable outcomes.", json_schema_extra=_at_most(4)
    )

    @field_validator("why")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        return value if len(value) >= 50 else (value + " This change is requested by the project's maintainers.")

    def render(self) -> str:
        files = bullets([f"`{p}`" for p in self.affected_files])
        return (
            f"## Why\n{self.why}\n\n## What Changes\n{bullets(self.what_changes)}\n\n"
            f"## Impact\n- Affected code:\n{files}\n\n## Scope\n### Out of scope\n{bullets(self.out_of_scope)}\n\n"
            f"## Approach\n{self.approach}\n\n## Risks\n{bullets(self.risks)}\n\n"
            f"## Success Criteria\n{bullets(self.success_criteria)}\n"
        )


def with_request_defaults(data: Any, request: str) -> Any:
    """A proposal missing its why or success criteria (a small model left them out or copied the schema's
    descriptions, which are then removed) takes them from the request itself: its first line, its items."""
    if not isinstance(data, dict):
        return data
    lines = [line.strip(" -*\t") for line in request.splitlines() if line.strip(" -*#\t")]
    if lines and not str(data.get("why") or "").strip():
        data = {**data, "why": lines[0]}
    if lines and not data.get("success_criteria"):
        data = {**data, "success_criteria": [f"Done as the request says: {line}" for line in lines[:6]]}
    return data


async def run(ctx: PhaseContext) -> dict[str, Any]:
    template = ctx.state.get("spec_template")
    seeded = (
        f"\n\nFilled spec template (authoritative):\n{yaml.safe_dump(template, sort_keys=False)}" if template else ""
    )
    user = f"Change request:\n{ctx.request}{seeded}\n\nExploration:\n{ctx.brief(explore.PHASE)}"
    proposal = await ctx.ask(Proposal, user, prepare=lambda data: with_request_defaults(data, ctx.request))
    rel = await ctx.write_artifact(ARTIFACT, proposal.render())
    return {"outputs": {PROPOSE: proposal.model_dump()}, "artifacts": {PROPOSE: rel}}


def check(ctx: GateContext) -> list[str]:
    proposal = ctx.result(PHASE)
    problems = []
    if not (proposal and proposal.success_criteria):
        problems.append("proposal has no success criteria")
    if not ctx.workspace.exists(ctx.paths.rel(ARTIFACT)):
        problems.append(f"{ctx.paths.rel(ARTIFACT)} was not written")
    return problems


def brief(proposal: Proposal) -> str:
    """What later phases see of the proposal: why, what changes, how success is judged."""
    return (
        f"Why: {proposal.why}\nWhat changes:\n"
        + "\n".join(f"- {w}" for w in proposal.what_changes)
        + "\nSuccess criteria:\n"
        + "\n".join(f"- {c}" for c in proposal.success_criteria)
    )


PHASE = Phase(name=PROPOSE, run=run, check=check, output=Proposal, artifact=ARTIFACT, brief=brief)
