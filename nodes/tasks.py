"""sdd-tasks: small tasks in the precise-spec template, each naming its file and its check."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import TASKS
from sdd_harness.graph.infra.repomap import mentioned_paths
from sdd_harness.nodes import design, init, spec

ARTIFACT = "tasks.md"


class TaskSpec(BaseModel):
    """One small task in the precise-spec template (under ~100 changed lines)."""

    task: str = Field(description="Imperative title, one line.")
    file: str = Field(description="The one repo-relative file this task edits or creates.")
    requirements: list[str] = Field(min_length=1, description="Exact behaviour to implement.")
    input: str = Field("", description="Parameters and types.")
    output: str = Field("", description="Return value and type.")
    validation: str = Field("", description="Input checks.")
    error_handling: str = Field("", description="Which errors are raised, when.")
    dependencies: list[str] = Field(default_factory=list, description="Repo files or names this task relies on.")
    style: str = Field("", description="Style constraints.")
    check: str = Field("", description="Test file (repo-relative) or command proving this task.")


class TaskPlan(BaseModel):
    tasks: list[TaskSpec] = Field(min_length=1, max_length=12)


def render_tasks(plan: TaskPlan, done: set[int] | None = None) -> str:
    """tasks.md: OpenSpec checkboxes, each followed by its template fields."""
    done = done or set()
    lines = ["# Tasks", "", "## 1. Implementation", ""]
    for index, task in enumerate(plan.tasks, start=1):
        mark = "x" if index in done else " "
        lines.append(f"- [{mark}] 1.{index} {task.task} (`{task.file}`)")
        for label, value in (
            ("requirements", "; ".join(task.requirements)),
            ("input", task.input),
            ("output", task.output),
            ("validation", task.validation),
            ("error_handling", task.error_handling),
            ("dependencies", ", ".join(task.dependencies)),
            ("style", task.style),
            ("check", task.check),
        ):
            if value:
                lines.append(f"  - {label}: {value}")
    return "\n".join(lines) + "\n"


_TICK = re.compile(r"^- \[(?P<mark>[ xX])\] 1\.(?P<num>\d+) ", re.MULTILINE)


def ticked_tasks(tasks_md: str) -> tuple[int, int]:
    """(done, total) checkboxes in a tasks.md."""
    marks = [m.group("mark") for m in _TICK.finditer(tasks_md)]
    return sum(1 for m in marks if m in "xX"), len(marks)


def named_files(ctx: PhaseContext) -> str:
    """Small models drop secondary edits (a re-export in `__init__.py`); listing the files the request names
    makes each one a visible decision. Some are only references, so this is a reminder, not a gate."""
    root = ctx.workspace.root
    named = [f"{rel} ({'exists' if (root / rel).is_file() else 'new'})" for rel in mentioned_paths(root, ctx.request)]
    if not named:
        return ""
    return f"\n\nFiles the request names: {', '.join(named)}. Each one the request asks to change needs a task."


async def run(ctx: PhaseContext) -> dict[str, Any]:
    project = ctx.result(init.PHASE)
    test_cmd = project.test_command if project else ""
    named = await ctx.io(named_files, ctx)
    user = (
        f"Change request:\n{ctx.request}\n\nRequirements:\n{ctx.brief(spec.PHASE)}\n\n"
        f"Design:\n{ctx.brief(design.PHASE)}\n\n"
        f"Test command: {test_cmd}{named}"
    )
    plan = await ctx.ask(TaskPlan, user)
    rel = await ctx.write_artifact(ARTIFACT, render_tasks(plan))
    return {"outputs": {TASKS: plan.model_dump(), "sdd-apply": {}}, "apply_results": None, "artifacts": {TASKS: rel}}


def check(ctx: GateContext) -> list[str]:
    plan = ctx.result(PHASE)
    problems = []
    created: set[str] = set()
    for index, task in enumerate(plan.tasks if plan else [], start=1):
        path = task.file
        try:
            target = ctx.workspace.resolve(path)
        except Exception as err:  # noqa: BLE001
            problems.append(f"task 1.{index}: {err}")
            continue
        if not target.parent.exists() and not any(c.startswith(path.rsplit("/", 1)[0]) for c in created):
            problems.append(f"task 1.{index}: folder of {path!r} does not exist")
        created.add(path)
    return problems


PHASE = Phase(name=TASKS, run=run, check=check, output=TaskPlan, artifact=ARTIFACT)
