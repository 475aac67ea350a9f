"""sdd-review (an extension phase, enabled from config): a code review between verify and archive.

It is not one of the nine built-ins: configs add it with `module: sdd_harness.nodes.review`, `after: sdd-verify` and
`on_fail: back_to:sdd-apply`, so a review that requests changes sends its findings to apply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.infra.repomap import slice_file
from sdd_harness.nodes import apply, spec, verify

NAME = "sdd-review"
ARTIFACT = "review.md"


class Finding(BaseModel):
    file: str = Field(description="Repo-relative path.")
    problem: str = Field(description="What is wrong, one sentence.")
    fix: str = Field(description="The concrete change to make, one sentence.")


class Review(BaseModel):
    """A reviewer's verdict on the change."""

    verdict: Literal["approve", "changes_requested"]
    findings: list[Finding] = Field(default_factory=list, max_length=5)

    def render(self) -> str:
        rows = "\n".join(f"- `{f.file}`: {f.problem} — fix: {f.fix}" for f in self.findings) or "- (none)"
        return f"# Review\n\n**Verdict: {self.verdict}**\n\n## Findings\n{rows}\n"


def changed_code(ctx: PhaseContext, budget: int = 3000) -> str:
    summary = ctx.result(apply.PHASE)
    files = summary.changed if summary else []
    return "\n\n".join(
        f"### {rel}\n```\n{slice_file(ctx.workspace.read(rel), budget)}\n```"
        for rel in files
        if ctx.workspace.exists(rel)
    )


async def run(ctx: PhaseContext) -> dict[str, Any]:
    code = await ctx.io(changed_code, ctx)
    report = ctx.result(verify.PHASE)
    verdict = report.verdict if report else "?"
    user = f"Requirements:\n{ctx.brief(spec.PHASE)}\n\nVerify verdict: {verdict}\n\nChanged code:\n{code or '(none)'}"
    review = await ctx.ask(Review, user)
    rel = await ctx.write_artifact(ARTIFACT, review.render())
    return {"outputs": {NAME: review.model_dump()}, "artifacts": {NAME: rel}}


def check(ctx: GateContext) -> list[str]:
    review = ctx.result(PHASE)
    if review is None or review.verdict != "changes_requested":
        return []
    return [f"review: {f.file}: {f.problem} (fix: {f.fix})" for f in review.findings] or ["review requested changes"]


PHASE = Phase(name=NAME, run=run, check=check, output=Review, artifact=ARTIFACT)
