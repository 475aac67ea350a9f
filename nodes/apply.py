"""sdd-apply: one small task at a time — generate, apply, check at once, fix from the real failure.

Each step sees only its task, its file(s) and the signatures of what it depends on. Edits are validated
operations inside the repo, restricted to the files the task names (small models like to wander).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, Field

from graph.artifacts import TaskPlan, TaskSpec, render_tasks, ticked_tasks
from graph.harness import GateContext, PhaseContext
from graph.repomap import signatures, slice_file
from graph.workspace import CommandResult, Edit, WorkspaceError

PHASE = "sdd-apply"
FILE_BUDGET = 6000
_TRACE_PATH = re.compile(r"([\w./-]+\.py)(?::\d+|\", line \d+)")


class EditPlan(BaseModel):
    """Model output for one step: the edits, nothing else."""

    edits: list[Edit] = Field(min_length=1, max_length=4)


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or "/tests/" in f"/{path}"


def check_target(task: TaskSpec, workspace_has: Any) -> str | None:
    """The test file a task's check names, if it is a real repo path."""
    candidate = task.check.strip().split("::")[0].split()[-1] if task.check.strip() else ""
    if candidate.endswith(".py") and is_test_file(candidate):
        return candidate
    return task.file if is_test_file(task.file) else None


def allowed_paths(task: TaskSpec) -> set[str]:
    paths = {task.file}
    target = check_target(task, None)
    if target:
        paths.add(target)
    return paths


def check_command(task: TaskSpec, tests_so_far: list[str], later_code: bool) -> str:
    """The command that proves a task; test-first tasks only need to compile until the code exists."""
    if is_test_file(task.file) and later_code:
        return f"python -m py_compile {task.file}"
    target = check_target(task, None)
    tests = sorted({t for t in [*tests_so_far, *([target] if target else [])] if t})
    if tests:
        return "python -m pytest -q -p no:cacheprovider " + " ".join(tests)
    return f"python -m py_compile {task.file}" if task.file.endswith(".py") else "true"


def file_block(ctx: PhaseContext, rel: str) -> str:
    if ctx.workspace.exists(rel):
        return f"### {rel} (current content)\n```\n{slice_file(ctx.workspace.read(rel), FILE_BUDGET)}\n```"
    return f"### {rel}\n(new file — create it)"


def dependency_signatures(ctx: PhaseContext, task: TaskSpec) -> str:
    out = []
    for dep in task.dependencies:
        rel = dep.strip().strip("`")
        if rel.endswith(".py") and rel != task.file and ctx.workspace.exists(rel):
            out.append(f"{rel}:\n" + "\n".join(f"  {s}" for s in signatures(ctx.workspace.read(rel))))
    if is_test_file(task.file):
        for other in ctx.output("sdd-tasks").get("tasks", []):
            rel = other.get("file", "")
            if not is_test_file(rel) and rel.endswith(".py") and ctx.workspace.exists(rel):
                out.append(f"{rel}:\n" + "\n".join(f"  {s}" for s in signatures(ctx.workspace.read(rel))))
    return "\n".join(dict.fromkeys(out))


def task_prompt(ctx: PhaseContext, task: TaskSpec) -> str:
    files = "\n\n".join(file_block(ctx, rel) for rel in sorted(allowed_paths(task)))
    deps = dependency_signatures(ctx, task)
    spec = yaml.safe_dump(task.model_dump(exclude_defaults=True), sort_keys=False, allow_unicode=True)
    return (
        f"Task (precise spec):\n{spec}\n{files}\n\n"
        + (f"Signatures you may use:\n{deps}\n\n" if deps else "")
        + f"Edit only: {', '.join(sorted(allowed_paths(task)))}."
    )


def fix_prompt(ctx: PhaseContext, task: TaskSpec | None, result: CommandResult, files: list[str]) -> str:
    blocks = "\n\n".join(file_block(ctx, rel) for rel in files)
    title = f"Task: {task.task} ({task.file})\n" if task else ""
    return (
        f"{title}The check failed. Fix the code with the smallest edit.\n\nCommand: {result.command}\n"
        f"Output (tail):\n```\n{result.output[-2500:]}\n```\n\n{blocks}\n\nEdit only: {', '.join(files)}."
    )


def restrict(edits: list[Edit], allowed: set[str]) -> list[Edit]:
    stray = [e.path for e in edits if e.path not in allowed]
    if stray:
        raise WorkspaceError(
            f"edits to {', '.join(stray)} refused: this step may only edit {', '.join(sorted(allowed))}"
        )
    return edits


async def attempt(ctx: PhaseContext, prompt: str, allowed: set[str], fixing: bool = False) -> tuple[list[str], str]:
    """Ask for edits and apply them; returns (changed files, error text)."""
    plan = await ctx.ask(EditPlan, prompt, feedback=not fixing)
    try:
        changed = await ctx.io(ctx.workspace.apply, restrict(plan.edits, allowed))
    except WorkspaceError as err:
        return [], str(err)
    return changed, ""


async def run_task(ctx: PhaseContext, index: int, task: TaskSpec, check_cmd: str) -> tuple[bool, list[dict], list[str]]:
    log: list[dict] = []
    allowed = allowed_paths(task)
    changed, error = await attempt(ctx, task_prompt(ctx, task), allowed)
    for step in range(ctx.settings.fix_attempts + 1):
        if error:
            result = CommandResult(command="apply edits", exit_code=1, output=error)
        else:
            result = await ctx.workspace.run(check_cmd, ctx.settings.command_timeout_s)
        entry = {
            "task": index,
            "step": "generate" if step == 0 else "fix",
            "attempt": step + 1,
            "check": check_cmd,
            "ok": result.ok,
            "seconds": result.seconds,
        }
        log.append(entry)
        ctx.emit({"event": "task", "phase": PHASE, **entry, "title": task.task})
        if result.ok:
            return True, log, changed
        if step == ctx.settings.fix_attempts:
            break
        more, error = await attempt(ctx, fix_prompt(ctx, task, result, sorted(allowed)), allowed, fixing=True)
        changed += more
    return False, log, changed


async def run_tasks(ctx: PhaseContext, plan: TaskPlan, done: list[int]) -> dict[str, Any]:
    log: list[dict] = []
    failed: list[str] = []
    changed: list[str] = []
    tests_so_far = [t.file for t in plan.tasks if is_test_file(t.file) and ctx.workspace.exists(t.file)]
    for index, task in enumerate(plan.tasks, start=1):
        if index in done:
            continue
        later_code = any(not is_test_file(t.file) for t in plan.tasks[index:])
        if not ctx.settings.task_loop:
            more, error = await attempt(ctx, task_prompt(ctx, task), allowed_paths(task))
            ok, entries = not error, [{"task": index, "step": "generate", "attempt": 1, "ok": not error}]
        else:
            ok, entries, more = await run_task(ctx, index, task, check_command(task, tests_so_far, later_code))
        log += entries
        changed += more
        if is_test_file(task.file) and task.file not in tests_so_far:
            tests_so_far.append(task.file)
        if ok:
            done.append(index)
            await ctx.write_artifact("tasks.md", render_tasks(plan, set(done)))
        else:
            failed.append(f"1.{index} {task.task}: check `{entries[-1].get('check', '')}` still failing")
    return {"log": log, "failed": failed, "changed": changed}


def traceback_files(ctx: PhaseContext, output: str, fallback: list[str]) -> list[str]:
    found = []
    for match in _TRACE_PATH.finditer(output):
        path = match.group(1).lstrip("./")
        if ctx.workspace.exists(path) and path not in found:
            found.append(path)
    return (found + [f for f in fallback if f not in found])[:4]


async def fix_from_verify(ctx: PhaseContext, plan: TaskPlan) -> dict[str, Any]:
    """Loop-back from verify: targeted fixes from the failing evidence, re-running the tests each time."""
    command = (ctx.output("sdd-verify").get("commands") or [{}])[0].get("command") or ctx.output("sdd-init").get(
        "test_command", "python -m pytest -q"
    )
    evidence = CommandResult(command=command, exit_code=1, output=ctx.feedback)
    task_files = [t.file for t in plan.tasks]
    log: list[dict] = []
    for step in range(max(1, ctx.settings.fix_attempts)):
        files = traceback_files(ctx, evidence.output, task_files)
        _, error = await attempt(ctx, fix_prompt(ctx, None, evidence, files), set(files), fixing=True)
        evidence = await ctx.workspace.run(command, ctx.settings.command_timeout_s)
        entry = {
            "task": 0,
            "step": "verify-fix",
            "attempt": step + 1,
            "check": command,
            "ok": evidence.ok,
            "error": error,
        }
        log.append(entry)
        ctx.emit({"event": "task", "phase": PHASE, **entry, "title": "fix verify failures"})
        if evidence.ok:
            break
    return {
        "log": log,
        "failed": [] if evidence.ok else ["verify failures remain after targeted fixes"],
        "changed": [],
    }


async def run(ctx: PhaseContext) -> dict[str, Any]:
    plan = TaskPlan.model_validate(ctx.output("sdd-tasks"))
    done = list(ctx.output(PHASE).get("done", []))
    if ctx.feedback and len(done) == len(plan.tasks):
        result = await fix_from_verify(ctx, plan)
    else:
        result = await run_tasks(ctx, plan, done)
    previous = ctx.output(PHASE)
    changed = sorted(set(previous.get("changed", [])) | set(result["changed"]))
    output = {
        "done": sorted(done),
        "failed": result["failed"],
        "changed": changed,
        "deviations": result["failed"],
    }
    return {
        "outputs": {PHASE: output},
        "apply_log": result["log"],
        "feedback": {PHASE: ""},
        "artifacts": {PHASE: ", ".join(changed)},
    }


def check(ctx: GateContext) -> list[str]:
    out = (ctx.state.get("outputs") or {}).get(PHASE) or {}
    problems = list(out.get("failed", []))
    tasks_md = ctx.paths.dir / "tasks.md"
    if tasks_md.is_file():
        done, total = ticked_tasks(tasks_md.read_text(encoding="utf-8"))
        if done < total and not problems:
            problems.append(f"only {done}/{total} tasks are ticked in tasks.md")
    return problems
