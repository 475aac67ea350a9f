"""sdd-design: decisions, file changes, interfaces and testing strategy."""

from __future__ import annotations

from typing import Any

from sdd_harness.graph.core.artifacts import Design
from sdd_harness.graph.core.harness import GateContext, PhaseContext
from sdd_harness.graph.infra.repomap import signatures
from sdd_harness.graph.infra.workspace import Workspace
from sdd_harness.nodes.spec import proposal_brief


def spec_brief(ctx: PhaseContext) -> str:
    lines = []
    for delta in ctx.output("sdd-spec").get("deltas", []):
        for kind in ("added", "modified"):
            for req in delta.get(kind, []):
                lines.append(f"- [{delta['capability']}] {req['name']}: {req['text']}")
    return "\n".join(lines) or "(no spec)"


def file_signatures(ctx: PhaseContext, files: list[str], limit: int = 6) -> str:
    out = []
    for rel in files[:limit]:
        if rel.endswith(".py") and ctx.workspace.exists(rel):
            sigs = signatures(ctx.workspace.read(rel))
            out.append(f"{rel}:\n" + "\n".join(f"  {s}" for s in sigs))
        else:
            out.append(f"{rel}: (new file)")
    return "\n".join(out)


PHASE = "sdd-design"
ARTIFACT = "design.md"


async def run(ctx: PhaseContext) -> dict[str, Any]:
    files = ctx.output("sdd-explore").get("affected_files") or ctx.output("sdd-propose").get("affected_files", [])
    sigs = await ctx.io(file_signatures, ctx, files)
    user = (
        f"Change request:\n{ctx.request}\n\nProposal:\n{proposal_brief(ctx)}\n\nRequirements:\n{spec_brief(ctx)}\n\n"
        f"Signatures of affected files:\n{sigs or '(none)'}"
    )
    design = await ctx.ask(Design, user)
    design = await ctx.io(with_real_actions, design, ctx.workspace)
    rel = await ctx.write_artifact(ARTIFACT, design.render())
    return {"outputs": {PHASE: design.model_dump()}, "artifacts": {PHASE: rel}}


def with_real_actions(design: Design, workspace: Workspace) -> Design:
    """Small models write 'modify' for the new file they are designing; a file that does not exist can only be
    created, so say so (a 'delete' of a missing file, or a path outside the repo, is left for the gate)."""
    changes = [
        change.model_copy(update={"action": "create"})
        if change.action == "modify" and not workspace.exists(change.path)
        else change
        for change in design.file_changes
    ]
    return design.model_copy(update={"file_changes": changes})


def check(ctx: GateContext) -> list[str]:
    out = (ctx.state.get("outputs") or {}).get(PHASE) or {}
    problems = []
    for change in out.get("file_changes", []):
        path = change.get("path", "")
        try:
            target = ctx.workspace.resolve(path)
        except Exception as err:  # noqa: BLE001
            problems.append(str(err))
            continue
        if change.get("action") in ("modify", "delete") and not target.exists():
            problems.append(f"design modifies {path!r}, which does not exist (use action 'create' for new files)")
    return problems
