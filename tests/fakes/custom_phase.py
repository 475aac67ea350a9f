"""A minimal custom phase used by the extension tests: a security note written beside the spec."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext

NAME = "sdd-security"


class SecurityNote(BaseModel):
    risks: list[str]


async def run(ctx: PhaseContext) -> dict[str, Any]:
    note = await ctx.ask(SecurityNote, f"Change request:\n{ctx.request}\nList security risks.")
    rel = await ctx.write_artifact("security.md", "# Security\n" + "\n".join(f"- {r}" for r in note.risks) + "\n")
    return {"outputs": {NAME: note.model_dump()}, "artifacts": {NAME: rel}}


def check(ctx: GateContext) -> list[str]:
    return [] if (ctx.paths.dir / "security.md").is_file() else ["security.md missing"]


PHASE = Phase(name=NAME, run=run, check=check, output=SecurityNote, artifact="security.md")
NOT_A_PHASE = True  # tests import this module under another name to check "no run()" errors
