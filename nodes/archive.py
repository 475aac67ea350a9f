"""sdd-archive: merge spec deltas into openspec/specs in code, move the change; the model only summarises."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import ARCHIVE
from sdd_harness.graph.infra.openspec import ArchiveError, ArchiveResult, archive_change, check_change
from sdd_harness.nodes import apply, propose, verify

ARTIFACT = "archive-report.md"


class ArchiveSummary(BaseModel):
    summary: str = Field(description="What changed and why, 2-4 sentences.")
    follow_ups: list[str] = Field(default_factory=list, max_length=4, description="Open items, if any.")


async def run(ctx: PhaseContext) -> dict[str, Any]:
    problems = await ctx.io(check_change, ctx.paths.root, ctx.paths.change_id)
    if problems:
        raise ArchiveError(problems)
    report, summary, proposal = ctx.result(verify.PHASE), ctx.result(apply.PHASE), ctx.result(propose.PHASE)
    changed = ", ".join(summary.changed if summary else [])
    user = (
        f"Change request:\n{ctx.request}\n\nVerdict: {report.verdict if report else None}\nFiles changed: {changed}\n"
        f"Why: {proposal.why if proposal else ''}"
    )
    written = await ctx.ask(ArchiveSummary, user)
    follow = "\n".join(f"- {f}" for f in written.follow_ups) or "- (none)"
    await ctx.write_artifact(ARTIFACT, f"# Archive Report\n\n{written.summary}\n\n## Follow-ups\n{follow}\n")
    result = await ctx.io(archive_change, ctx.paths.root, ctx.paths.change_id)
    archived = ctx.workspace.rel(result.archive_path) if result.archive_path.is_absolute() else str(result.archive_path)
    output = {**result.model_dump(mode="json"), "archive_dir": archived, "summary": written.summary}
    return {"outputs": {ARCHIVE: output}, "artifacts": {ARCHIVE: archived}}


def check(ctx: GateContext) -> list[str]:
    archived = ctx.result(PHASE)
    if not (archived and archived.archive_dir):
        return ["change was not archived"]
    return []


class Archived(ArchiveResult):
    """What archive stores: the merge result, where the change folder went, and the model's summary."""

    archive_dir: str
    summary: str = ""


PHASE = Phase(name=ARCHIVE, run=run, check=check, output=Archived, artifact=ARTIFACT)
