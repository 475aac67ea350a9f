"""sdd-archive: merge spec deltas into openspec/specs in code, move the change; the model only summarises."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.core.harness import GateContext, PhaseContext
from sdd_harness.graph.infra.openspec import ArchiveError, archive_change, check_change

PHASE = "sdd-archive"
ARTIFACT = "archive-report.md"


class ArchiveSummary(BaseModel):
    summary: str = Field(description="What changed and why, 2-4 sentences.")
    follow_ups: list[str] = Field(default_factory=list, max_length=4, description="Open items, if any.")


async def run(ctx: PhaseContext) -> dict[str, Any]:
    problems = await ctx.io(check_change, ctx.paths.root, ctx.paths.change_id)
    if problems:
        raise ArchiveError(problems)
    verify = ctx.output("sdd-verify")
    changed = ", ".join(ctx.output("sdd-apply").get("changed", []))
    user = (
        f"Change request:\n{ctx.request}\n\nVerdict: {verify.get('verdict')}\nFiles changed: {changed}\n"
        f"Why: {ctx.output('sdd-propose').get('why', '')}"
    )
    summary = await ctx.ask(ArchiveSummary, user)
    follow = "\n".join(f"- {f}" for f in summary.follow_ups) or "- (none)"
    await ctx.write_artifact(ARTIFACT, f"# Archive Report\n\n{summary.summary}\n\n## Follow-ups\n{follow}\n")
    result = await ctx.io(archive_change, ctx.paths.root, ctx.paths.change_id)
    archived = ctx.workspace.rel(result.archive_path) if result.archive_path.is_absolute() else str(result.archive_path)
    output = {**result.model_dump(mode="json"), "archive_dir": archived, "summary": summary.summary}
    return {"outputs": {PHASE: output}, "artifacts": {PHASE: archived}}


def check(ctx: GateContext) -> list[str]:
    out = (ctx.state.get("outputs") or {}).get(PHASE) or {}
    if not out.get("archive_dir"):
        return ["change was not archived"]
    return []
