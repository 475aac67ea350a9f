"""sdd-design: decisions, file changes, interfaces and testing strategy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import DESIGN
from sdd_harness.graph.core.prose import bounded, code
from sdd_harness.graph.infra.repomap import signatures
from sdd_harness.graph.infra.workspace import Workspace
from sdd_harness.nodes import explore, propose, spec


class Decision(BaseModel):
    choice: bounded(120)
    alternatives: list[bounded(120)] = Field(default_factory=list, max_length=3)
    rationale: bounded(240)


class FileChange(BaseModel):
    path: str = Field(description="Repo-relative path.")
    action: Literal["create", "modify", "delete"] = "modify"
    description: bounded(200) = Field(description="What changes in this file, one line.")


class Design(BaseModel):
    """How — decisions, files, interfaces, tests."""

    approach: bounded(400) = Field(description="Technical approach, 1-3 sentences.")
    decisions: list[Decision] = Field(default_factory=list, max_length=4)
    file_changes: list[FileChange] = Field(min_length=1, max_length=20)
    interfaces: list[code(200)] = Field(
        default_factory=list, max_length=12, description="Exact new/changed signatures."
    )
    testing_strategy: bounded(300) = Field(
        "the change's scenario tests", description="Which tests prove it, 1-2 sentences."
    )  # a default: a reply cut off in its file list still salvages into a design

    def render(self) -> str:
        decisions = (
            "\n".join(
                f"### {d.choice}\n- Alternatives: {'; '.join(d.alternatives) or '-'}\n- Rationale: {d.rationale}"
                for d in self.decisions
            )
            or "(no notable decisions)"
        )
        files = "\n".join(f"| `{f.path}` | {f.action} | {f.description} |" for f in self.file_changes)
        interfaces = "\n".join(self.interfaces) or "(none)"
        return (
            f"# Design\n\n## Technical Approach\n{self.approach}\n\n## Decisions\n{decisions}\n\n"
            f"## File Changes\n| File | Action | Description |\n|---|---|---|\n{files}\n\n"
            f"## Interfaces\n```\n{interfaces}\n```\n\n## Testing Strategy\n{self.testing_strategy}\n"
        )


def file_signatures(ctx: PhaseContext, files: list[str], limit: int = 6) -> str:
    out = []
    for rel in files[:limit]:
        if rel.endswith(".py") and ctx.workspace.exists(rel):
            sigs = signatures(ctx.workspace.read(rel))
            out.append(f"{rel}:\n" + "\n".join(f"  {s}" for s in sigs))
        else:
            out.append(f"{rel}: (new file)")
    return "\n".join(out)


ARTIFACT = "design.md"


async def run(ctx: PhaseContext) -> dict[str, Any]:
    exploration, proposal = ctx.result(explore.PHASE), ctx.result(propose.PHASE)
    files = (exploration.affected_files if exploration else []) or (proposal.affected_files if proposal else [])
    sigs = await ctx.io(file_signatures, ctx, files)
    user = (
        f"Change request:\n{ctx.request}\n\nProposal:\n{ctx.brief(propose.PHASE)}\n\n"
        f"Requirements:\n{ctx.brief(spec.PHASE)}\n\n"
        f"Signatures of affected files:\n{sigs or '(none)'}"
    )
    design = await ctx.ask(Design, user)
    design = await ctx.io(with_contract_files, design, ctx.result(spec.PHASE), ctx.workspace)
    design = await ctx.io(with_real_actions, design, ctx.workspace)
    rel = await ctx.write_artifact(ARTIFACT, design.render())
    return {"outputs": {DESIGN: design.model_dump()}, "artifacts": {DESIGN: rel}}


def module_path(module: str, workspace: Workspace) -> str:
    """The file a dotted module lives in: ``a/b.py``, a package's ``a/b/__init__.py``, else the new ``a/b.py``."""
    for root in ("", "src/"):
        base = root + module.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if workspace.exists(candidate):
                return candidate
    top = module.split(".")[0]
    prefix = "src/" if not workspace.exists(f"{top}/__init__.py") and workspace.exists(f"src/{top}/__init__.py") else ""
    return f"{prefix}{module.replace('.', '/')}.py"


def with_contract_files(design: Design, change: spec.ChangeSpec | None, workspace: Workspace) -> Design:
    """Every module the scenario tests import from is a file the change touches (small models leave out the
    package ``__init__`` of a re-export); the contract's test file is already written, so it is listed as done."""
    if change is None:
        return design
    listed = {c.path for c in design.file_changes}
    extra = []
    for module in dict.fromkeys(c.example.module for c in change.cases if c.example and c.example.module):
        path = module_path(module, workspace)
        if path not in listed:
            listed.add(path)
            action = "modify" if workspace.exists(path) else "create"
            extra.append(
                FileChange(path=path, action=action, description=f"what the scenario tests import from {module}")
            )
    return design.model_copy(update={"file_changes": [*design.file_changes, *extra]})


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
    design = ctx.result(PHASE)
    problems = []
    for change in design.file_changes if design else []:
        path = change.path
        try:
            target = ctx.workspace.resolve(path)
        except Exception as err:  # noqa: BLE001
            problems.append(str(err))
            continue
        if change.action in ("modify", "delete") and not target.exists():
            problems.append(f"design modifies {path!r}, which does not exist (use action 'create' for new files)")
    return problems


def brief(design: Design) -> str:
    """What later phases see of the design: approach, files, interfaces, tests."""
    files = "\n".join(f"- {f.path} ({f.action}): {f.description}" for f in design.file_changes)
    interfaces = "\n".join(design.interfaces)
    return f"Approach: {design.approach}\nFiles:\n{files}\nInterfaces:\n{interfaces}\nTests: {design.testing_strategy}"


PHASE = Phase(name=DESIGN, run=run, check=check, output=Design, artifact=ARTIFACT, brief=brief)
