"""sdd-tasks: small tasks in the precise-spec template, each naming its file and its check."""

from __future__ import annotations

from typing import Any

from sdd_harness.graph.core.artifacts import TaskPlan, render_tasks
from sdd_harness.graph.core.harness import GateContext, PhaseContext
from sdd_harness.nodes.design import spec_brief
from sdd_harness.nodes.explore import mentioned_paths

PHASE = "sdd-tasks"
ARTIFACT = "tasks.md"


def design_brief(ctx: PhaseContext) -> str:
    d = ctx.output("sdd-design")
    files = "\n".join(f"- {f['path']} ({f['action']}): {f['description']}" for f in d.get("file_changes", []))
    interfaces = "\n".join(d.get("interfaces", []))
    return (
        f"Approach: {d.get('approach', '')}\nFiles:\n{files}\nInterfaces:\n{interfaces}\nTests: "
        f"{d.get('testing_strategy', '')}"
    )


def named_files(ctx: PhaseContext) -> str:
    """Small models drop secondary edits (a re-export in `__init__.py`); listing the files the request names
    makes each one a visible decision. Some are only references, so this is a reminder, not a gate."""
    root = ctx.workspace.root
    named = [f"{rel} ({'exists' if (root / rel).is_file() else 'new'})" for rel in mentioned_paths(root, ctx.request)]
    if not named:
        return ""
    return f"\n\nFiles the request names: {', '.join(named)}. Each one the request asks to change needs a task."


async def run(ctx: PhaseContext) -> dict[str, Any]:
    test_cmd = ctx.output("sdd-init").get("test_command", "")
    named = await ctx.io(named_files, ctx)
    user = (
        f"Change request:\n{ctx.request}\n\nRequirements:\n{spec_brief(ctx)}\n\nDesign:\n{design_brief(ctx)}\n\n"
        f"Test command: {test_cmd}{named}"
    )
    plan = await ctx.ask(TaskPlan, user)
    rel = await ctx.write_artifact(ARTIFACT, render_tasks(plan))
    return {"outputs": {PHASE: plan.model_dump(), "sdd-apply": {}}, "apply_results": None, "artifacts": {PHASE: rel}}


def check(ctx: GateContext) -> list[str]:
    plan = (ctx.state.get("outputs") or {}).get(PHASE) or {}
    problems = []
    created: set[str] = set()
    for index, task in enumerate(plan.get("tasks", []), start=1):
        path = task.get("file", "")
        try:
            target = ctx.workspace.resolve(path)
        except Exception as err:  # noqa: BLE001
            problems.append(f"task 1.{index}: {err}")
            continue
        if not target.parent.exists() and not any(c.startswith(path.rsplit("/", 1)[0]) for c in created):
            problems.append(f"task 1.{index}: folder of {path!r} does not exist")
        created.add(path)
    return problems
