"""sdd-apply: one small task at a time — generate, apply, check at once, fix from the real failure.

Each step sees only its task, its file(s) and the signatures of what it depends on. Edits are validated
operations inside the repo, restricted to the files the task names (small models like to wander).
"""

from __future__ import annotations

import ast
import re
import threading
from typing import Any

import yaml
from langgraph.types import Send
from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import APPLY, TASKS
from sdd_harness.graph.infra.pycheck import (
    defined_names,
    defined_tests,
    imported_paths,
    module_of,
    top_level_names,
    undefined_names,
    with_imports,
)
from sdd_harness.graph.infra.repomap import mentioned_paths, signatures, slice_file
from sdd_harness.graph.infra.workspace import CommandResult, Edit, Workspace, WorkspaceError
from sdd_harness.nodes import tasks
from sdd_harness.nodes.tasks import TaskPlan, TaskSpec, ticked_tasks

SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster, same output
_PLACEHOLDER = {"task": "none", "file": "none", "requirements": ["none"]}
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
        plan = ctx.result(tasks.PHASE)
        for other in plan.tasks if plan else []:
            rel = other.file
            if not is_test_file(rel) and rel.endswith(".py") and ctx.workspace.exists(rel):
                out.append(f"{rel}:\n" + "\n".join(f"  {s}" for s in signatures(ctx.workspace.read(rel))))
    return "\n".join(dict.fromkeys(out))


def task_prompt(ctx: PhaseContext, task: TaskSpec) -> str:
    files = "\n\n".join(file_block(ctx, rel) for rel in sorted(allowed_paths(task)))
    deps = dependency_signatures(ctx, task)
    spec = yaml.dump(task.model_dump(exclude_defaults=True), Dumper=SAFE_DUMPER, sort_keys=False, allow_unicode=True)
    return (
        f"Task (precise spec):\n{spec}\n{files}\n\n"
        + (f"Signatures you may use:\n{deps}\n\n" if deps else "")
        + f"Edit only: {', '.join(sorted(allowed_paths(task)))}."
    )


def fix_prompt(
    ctx: PhaseContext, task: TaskSpec | None, result: CommandResult, files: list[str], rejected: bool = False
) -> str:
    blocks = "\n\n".join(file_block(ctx, rel) for rel in files)
    title = f"Task: {task.task} ({task.file})\n" if task else ""
    unchanged = (
        "Your last edit was rejected and NOT applied (reason below): the files shown are unchanged; write the "
        "edit against them.\n"
        if rejected
        else ""
    )
    return (
        f"{title}{unchanged}The check failed. The task spec decides what is wrong: fix the code if it breaks the "
        f"spec, the test if it expects what the spec does not say. Smallest edit.\n\nCommand: {result.command}\n"
        f"Output (tail):\n```\n{result.output[-2500:]}\n```\n\n{blocks}\n\nEdit only: {', '.join(files)}."
    )


def signature_map(text: str) -> dict[str, str]:
    """name -> signature line of a module's top-level functions and classes."""
    found = {}
    for line in signatures(text):
        match = re.match(r"(?:async def|def|class) (\w+)", line)
        if match:
            found[match.group(1)] = line
    return found


def preserved(ctx: PhaseContext, edits: list[Edit], task: TaskSpec | None) -> str:
    """Whole-file rewrites must keep existing functions as they were, unless the task names them."""
    mentioned = task.model_dump_json() if task else ""
    for edit in edits:
        if edit.op != "replace_file" or not edit.path.endswith(".py") or not ctx.workspace.exists(edit.path):
            continue
        if signatures(edit.content) == ["<syntax error>"]:
            continue  # the workspace reports the syntax error itself, with its line
        before, after = signature_map(ctx.workspace.read(edit.path)), signature_map(edit.content)
        broken = [n for n, sig in before.items() if after.get(n) != sig and n not in mentioned]
        if broken:
            return (
                f"{edit.path}: the rewrite removed or changed existing {', '.join(broken)}; keep existing code "
                "exactly as it is — use `append` to add new code or `search_replace` for a targeted change"
            )
    return ""


def create_as_intended(workspace: Workspace, edits: list[Edit]) -> list[Edit]:
    """``create`` on a file that exists, the commonest small-model slip after a bad path: content that keeps
    every existing top-level definition is a whole-file rewrite (``preserved`` still checks their signatures);
    content that defines none of them, at any depth, is new code to append (a new function with copies of the
    old ones nested inside is not). Anything in between is left to be refused."""
    fixed = []
    for edit in edits:
        if edit.op == "create" and edit.path.endswith(".py") and workspace.exists(edit.path):
            before, after = set(signature_map(workspace.read(edit.path))), set(signature_map(edit.content))
            if before and before <= after:
                edit = edit.model_copy(update={"op": "replace_file"})
            elif after and not before & (defined_names(edit.content) or before):
                edit = edit.model_copy(update={"op": "append"})
        fixed.append(edit)
    return fixed


def tests_in_a_module(workspace: Workspace, edits: list[Edit]) -> str:
    """pytest code written into a non-test module (the demo's model pasted its tests into both files): the
    module then fails to import, and every check after it fails for a reason the model never sees."""
    for edit in edits:
        added = edit.content or edit.replace
        if not edit.path.endswith(".py") or is_test_file(edit.path) or edit.path.endswith("conftest.py"):
            continue
        if "pytest" not in added or not defined_tests(added):  # plugins and fixtures may use pytest
            continue
        if not workspace.exists(edit.path) or "pytest" not in workspace.read(edit.path):
            return f"{edit.path}: pytest tests belong in a test file, not in this module; edit only the test file"
    return ""


def vetted(ctx: PhaseContext, edits: list[Edit], task: TaskSpec | None) -> tuple[list[Edit], str]:
    """The edits as meant, and why they cannot be applied ('' when they can): file reads, off the event loop."""
    edits = create_as_intended(ctx.workspace, edits)
    return edits, tests_in_a_module(ctx.workspace, edits) or preserved(ctx, edits, task)


def meant_path(path: str, allowed: set[str]) -> str:
    """The allowed file a mangled path plainly means (`/cart.py`, `cart.py`, `./shop/cart` -> `shop/cart.py`):
    one allowed file with that name or stem, or the only allowed file when the "path" names no file type;
    else the path unchanged (and refused)."""
    clean = path.lstrip("/").removeprefix("./")
    if clean in allowed:
        return clean
    name = clean.rsplit("/", 1)[-1]
    same = [a for a in allowed if a.endswith(f"/{clean}") or a.rsplit("/", 1)[-1] in (name, f"{name}.py")]
    if len(same) == 1 and name:
        return same[0]
    if len(allowed) == 1 and name and "." not in name:
        return next(iter(allowed))  # `/total`: a function name given as the path of the one file it may edit
    return path


def restrict(edits: list[Edit], allowed: set[str]) -> list[Edit]:
    edits = [e.model_copy(update={"path": meant_path(e.path, allowed)}) for e in edits]
    stray = [e.path for e in edits if e.path not in allowed]
    if stray:
        raise WorkspaceError(
            f"edits to {', '.join(stray)} refused: this step may only edit {', '.join(sorted(allowed))}"
        )
    return edits


async def attempt(
    ctx: PhaseContext, prompt: str, allowed: set[str], fixing: bool = False, task: TaskSpec | None = None
) -> tuple[list[str], str]:
    """Ask for edits and apply them; returns (changed files, error text)."""
    plan = await ctx.ask(EditPlan, prompt, feedback=not fixing)
    try:
        edits, broken = await ctx.io(vetted, ctx, restrict(plan.edits, allowed), task)
        if broken:
            return [], broken
        changed = await ctx.io(ctx.workspace.apply, edits)
    except WorkspaceError as err:
        return [], str(err)
    return changed, ""


def import_missing(ctx: PhaseContext, task: TaskSpec, sources: frozenset[str]) -> list[str]:
    """The commonest small-model slip: a test (or module) uses a function the change defines elsewhere and
    forgets to import it. A name that exactly one known module defines gets its import added; returns the
    names fixed (anything ambiguous is left for the model, with the undefined-name message)."""
    if not task.file.endswith(".py") or not ctx.workspace.exists(task.file):
        return []
    source = ctx.workspace.read(task.file)
    missing = undefined_names(source, task.file)
    if not missing:
        return []
    defines = {
        rel: top_level_names(ctx.workspace.read(rel))
        for rel in sorted(sources)
        if rel != task.file and rel.endswith(".py") and not is_test_file(rel) and ctx.workspace.exists(rel)
    }
    lines, fixed = [], []
    for name, _ in missing:
        owners = [rel for rel, names in defines.items() if name in names]
        if len(owners) == 1:
            lines.append(f"from {module_of(owners[0])} import {name}")
            fixed.append(name)
    if lines:
        ctx.workspace.write(task.file, with_imports(source, lines))
    return fixed


def import_sources(ctx: PhaseContext, plan: TaskPlan, task: TaskSpec) -> frozenset[str]:
    """Modules a task's file may import from: the change's files, its dependencies, files the request names."""
    named = mentioned_paths(ctx.workspace.root, ctx.request)
    return frozenset([*(t.file for t in plan.tasks), *(d.strip().strip("`") for d in task.dependencies), *named])


def static_problems(
    ctx: PhaseContext, task: TaskSpec, tests_before: set[str], sources: frozenset[str] = frozenset()
) -> str:
    """Fast checks before the real one: undefined names in the task's file; a test task adds tests, and they
    exercise what the change is about."""
    if not task.file.endswith(".py") or not ctx.workspace.exists(task.file):
        return ""
    source = ctx.workspace.read(task.file)
    missing = undefined_names(source, task.file)
    if missing:
        names = ", ".join(f"`{n}` (line {line})" for n, line in missing[:5])
        return f"{task.file}: undefined name(s) {names}: define or import them, or use the right variable"
    if not is_test_file(task.file):
        return ""
    added = defined_tests(source) - tests_before
    if not added:
        return f"{task.file}: no new test function was added; add tests for: {'; '.join(task.requirements)[:300]}"
    subjects = change_subjects(ctx, task, sources)
    mentions = rf"\b({'|'.join(map(re.escape, sorted(subjects)))})\b"
    if subjects and not re.search(mentions, new_tests_text(source, added)):
        return (
            f"{task.file}: the new tests ({', '.join(sorted(added))}) call none of what this change is about "
            f"({', '.join(sorted(subjects))}); write tests that call it"
        )
    return ""


def change_subjects(ctx: PhaseContext, task: TaskSpec, sources: frozenset[str]) -> set[str]:
    """Functions, classes and methods of the change's code files that the request or the task names (e.g.
    `slugify`; `total` for `Cart.total`, so a test calling it on a fixture's cart counts)."""
    words = set(re.findall(r"[A-Za-z_]\w+", f"{ctx.request} {task.task} {' '.join(task.requirements)}"))
    defined: set[str] = set()
    for rel in sources:
        if rel.endswith(".py") and not is_test_file(rel) and ctx.workspace.exists(rel):
            defined |= defined_names(ctx.workspace.read(rel)) or set()
    return words & defined


def new_tests_text(source: str, names: set[str]) -> str:
    """The source of the named test functions (decorators included)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines()
    return "\n".join(
        "\n".join(lines[min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1 : node.end_lineno])
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
    )


def fix_scope(ctx: PhaseContext, task: TaskSpec, allowed: set[str], output: str, settled: set[str]) -> set[str]:
    """A failing new test may expose a bug in the code under test, not in the test: its fixes may also edit the
    finished code files the test imports or the traceback names (``settled``: written by earlier tasks and
    touched by no task still pending, so parallel tasks never race on them)."""
    if not is_test_file(task.file) or not ctx.workspace.exists(task.file):
        return allowed
    near = imported_paths(ctx.workspace.read(task.file)) | set(traceback_files(ctx, output, []))
    return allowed | {path for path in near if path in settled and not is_test_file(path)}


async def run_task(
    ctx: PhaseContext,
    index: int,
    task: TaskSpec,
    check_cmd: str,
    settled: frozenset[str] = frozenset(),
    sources: frozenset[str] = frozenset(),
) -> tuple[bool, list[dict], list[str]]:
    log: list[dict] = []
    allowed = allowed_paths(task)
    before = defined_tests(ctx.workspace.read(task.file)) if ctx.workspace.exists(task.file) else set()
    changed, error = await attempt(ctx, task_prompt(ctx, task), allowed, task=task)
    for step in range(ctx.settings.fix_attempts + 1):
        rejected = bool(error)  # the edit itself was refused: nothing on disk changed
        if not error:
            await ctx.io(import_missing, ctx, task, sources)
        error = error or await ctx.io(static_problems, ctx, task, before, sources)
        if error:
            result = CommandResult(command="static checks", exit_code=1, output=error)
        else:
            result = await ctx.workspace.run(check_cmd, ctx.settings.command_timeout_s)
        entry = {
            "task": index,
            "step": "generate" if step == 0 else "fix",
            "attempt": step + 1,
            "check": check_cmd,
            "ok": result.ok,
            "seconds": result.seconds,
            "error": "" if result.ok else result.output[-400:],
        }
        log.append(entry)
        ctx.emit({"event": "task", "phase": APPLY, **entry, "title": task.task})
        if result.ok:
            return True, log, changed
        if step == ctx.settings.fix_attempts:
            break
        scope = fix_scope(ctx, task, allowed, result.output, set(settled))
        prompt = fix_prompt(ctx, task, result, sorted(scope), rejected)
        more, error = await attempt(ctx, prompt, scope, fixing=True, task=task)
        changed += more
    return False, log, changed


_TICK_LOCK = threading.Lock()  # a thread lock: parallel tasks may tick from any event loop


def _tick_file(workspace: Any, rel: str, index: int) -> None:
    with _TICK_LOCK:
        if workspace.exists(rel):
            text = workspace.read(rel)
            workspace.write(rel, re.sub(rf"^- \[ \] 1\.{index} ", f"- [x] 1.{index} ", text, flags=re.MULTILINE))


async def tick(ctx: PhaseContext, index: int) -> None:
    """Tick one task in tasks.md; parallel tasks share the file, so the read-modify-write is serialised."""
    await ctx.io(_tick_file, ctx.workspace, ctx.paths.rel("tasks.md"), index)


async def run_one(ctx: PhaseContext, plan: TaskPlan, index: int, done: set[int]) -> dict[str, Any]:
    """One task: generate → apply → check at once → targeted fixes (bounded) → tick."""
    task = plan.tasks[index - 1]
    tests = [t.file for i, t in enumerate(plan.tasks, 1) if is_test_file(t.file) and (i in done or i == index)]
    tests = [t for t in tests if t == task.file or ctx.workspace.exists(t)]
    later_code = any(not is_test_file(t.file) for i, t in enumerate(plan.tasks, 1) if i > index and i not in done)
    if not ctx.settings.task_loop:
        changed, error = await attempt(ctx, task_prompt(ctx, task), allowed_paths(task), task=task)
        ok, log = not error, [{"task": index, "step": "generate", "attempt": 1, "ok": not error, "error": error}]
    else:
        ok, log, changed = await run_task(
            ctx,
            index,
            task,
            check_command(task, tests, later_code),
            settled_files(plan, index, done),
            import_sources(ctx, plan, task),
        )
    if ok:
        await tick(ctx, index)
    failed = "" if ok else f"1.{index} {task.task}: check `{log[-1].get('check', '')}` still failing"
    return {"ok": ok, "changed": sorted(set(changed)), "failed": failed, "log": log}


def settled_files(plan: TaskPlan, index: int, done: set[int]) -> frozenset[str]:
    """Files finished tasks wrote that no other pending task will touch (safe to fix beside parallel tasks)."""
    pending = {t.file for i, t in enumerate(plan.tasks, 1) if i not in done and i != index}
    return frozenset(t.file for i, t in enumerate(plan.tasks, 1) if i in done) - pending


def apply_summary(state: dict[str, Any]) -> dict[str, Any]:
    """done / failed / changed across every task result and the latest verify-fix round."""
    results = state.get("apply_results") or {}
    by_task = {k: v for k, v in results.items() if k.isdigit()}
    fixes = sorted((k for k in results if k.startswith("fix-")), key=lambda k: int(k.split("-")[1]))
    failed = [v["failed"] for v in by_task.values() if not v["ok"]]
    if fixes and not results[fixes[-1]]["ok"]:
        failed.append(results[fixes[-1]]["failed"])
    changed = sorted({f for v in results.values() for f in v.get("changed", [])})
    done = sorted(int(k) for k, v in by_task.items() if v["ok"])
    return {"done": done, "failed": failed, "changed": changed, "deviations": failed}


def ready_batch(state: dict[str, Any], retry_failed: bool = True) -> list[int]:
    """The next tasks that can run side by side: a prefix of the pending ones touching disjoint files.

    A task waits for earlier pending tasks on the same file or on a file it depends on; a test task
    waits for pending code tasks (it imports them). Order is kept: the batch stops at the first conflict.
    """
    plan = TaskPlan.model_validate((state.get("outputs") or {}).get(TASKS) or {"tasks": [_PLACEHOLDER]})
    results = state.get("apply_results") or {}
    pending = [
        i
        for i in range(1, len(plan.tasks) + 1)
        if str(i) not in results or (retry_failed and not results[str(i)]["ok"])
    ]
    batch: list[int] = []
    for i in pending:
        task = plan.tasks[i - 1]
        earlier = [plan.tasks[j - 1] for j in pending if j < i]
        deps = {d.strip().strip("`") for d in task.dependencies}
        blocked = any(e.file == task.file or e.file in deps for e in earlier) or (
            is_test_file(task.file) and any(not is_test_file(e.file) for e in earlier)
        )
        if blocked:
            break
        batch.append(i)
    return batch


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
    changed: list[str] = []
    for step in range(max(1, ctx.settings.fix_attempts)):
        files = traceback_files(ctx, evidence.output, task_files)
        more, error = await attempt(ctx, fix_prompt(ctx, None, evidence, files), set(files), fixing=True)
        changed += more
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
        ctx.emit({"event": "task", "phase": APPLY, **entry, "title": "fix verify failures"})
        if evidence.ok:
            break
    return {
        "log": log,
        "failed": [] if evidence.ok else ["verify failures remain after targeted fixes"],
        "changed": sorted(set(changed)),
    }


async def run(ctx: PhaseContext) -> dict[str, Any]:
    """Apply is fanned out by the graph: each invocation gets one task (``apply_task``) via ``Send``.

    Without a task (a verify loop-back with all tasks done) it runs a targeted fix round instead.
    """
    plan = ctx.result(tasks.PHASE) or TaskPlan(tasks=[TaskSpec(**_PLACEHOLDER)])
    summary = apply_summary(ctx.state)
    index = ctx.state.get("apply_task")
    if index is None and ctx.feedback and len(summary["done"]) == len(plan.tasks):
        fixes = sum(1 for k in ctx.state.get("apply_results") or {} if k.startswith("fix-"))
        result = await fix_from_verify(ctx, plan)
        key, entry = (
            f"fix-{fixes + 1}",
            {"ok": not result["failed"], "changed": result["changed"], "failed": "; ".join(result["failed"])},
        )
        log = result["log"]
    else:
        indices = [index] if index is not None else ready_batch(ctx.state)[:1] or [1]
        one = await run_one(ctx, plan, indices[0], set(summary["done"]))
        key, entry, log = str(indices[0]), {k: v for k, v in one.items() if k != "log"}, one["log"]
    return {"apply_results": {key: entry}, "apply_log": log, "feedback": {APPLY: ""}}


def check(ctx: GateContext) -> list[str]:
    out = apply_summary(ctx.state)
    problems = list(out.get("failed", []))
    tasks_md = ctx.paths.dir / "tasks.md"
    if tasks_md.is_file():
        done, total = ticked_tasks(tasks_md.read_text(encoding="utf-8"))
        if done < total and not problems:
            problems.append(f"only {done}/{total} tasks are ticked in tasks.md")
    return problems


class ApplySummary(BaseModel):
    """What apply did across its task visits (folded by the orchestrator from the per-task results)."""

    done: list[int] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    deviations: list[str] = Field(default_factory=list)


def fan_out(state: dict[str, Any], continuing: bool) -> list[Send]:
    """One apply node per task of the next batch (tasks on disjoint files run side by side)."""
    return [Send(APPLY, {**state, "apply_task": index}) for index in ready_batch(state, retry_failed=not continuing)]


def remaining(state: dict[str, Any]) -> str:
    """Tasks not yet attempted; each visit records a result for every task it ran, so this shrinks."""
    batch = ready_batch(state, retry_failed=False)
    return f"next task batch: {batch}" if batch else ""


def collect(state: dict[str, Any]) -> dict[str, Any]:
    summary = apply_summary(state)
    return {"outputs": {APPLY: summary}, "artifacts": {APPLY: ", ".join(summary["changed"])}}


PHASE = Phase(
    name=APPLY,
    run=run,
    check=check,
    output=ApplySummary,
    fan_out=fan_out,
    remaining=remaining,
    collect=collect,
)
