"""sdd-apply: sample, run, select, repair — against the change's scenario tests, in throwaway copies.

Tasks are taken in groups (a small change is one group, so a candidate can be whole). For a group the model
writes k candidates (greedy, then sampled), merged into the files by name; each runs in its own copy of the repo
against the scenario tests, the existing tests and probe calls next to the scenarios' own. The best (most passed,
then probe answers most shared with the others, fewer broken tests, smaller diff) is mended in code first
(graph.infra.compose), then, if still not perfect, repaired at most ``fix_attempts`` times from its real
failures; only the winner touches the user's files. Done = its file changed and its scenario tests pass; a
test every candidate fails is suspect."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable
from typing import Any

from langgraph.types import Send
from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import APPLY, TASKS
from sdd_harness.graph.infra.candidates import (
    candidate_timeout,
    current_texts,
    dependency_signatures,
    evaluate,
    file_block,
    merged_files,
    package_sources,
    repair_prompt,
    stops_before_tests,
    with_declared_names,
)
from sdd_harness.graph.infra.compose import code_repairs
from sdd_harness.graph.infra.draws import WHOLE_REQUEST, next_draw
from sdd_harness.graph.infra.git import commit_paths
from sdd_harness.graph.infra.oneshot_prompt import FOCUSED, focused_prompt
from sdd_harness.graph.infra.oneshot_prompt import PROMPT as ONE_SHOT
from sdd_harness.graph.infra.oneshot_prompt import build_prompt as one_shot_prompt
from sdd_harness.graph.infra.outline import named_identifiers, new_definitions
from sdd_harness.graph.infra.scenarios import rechecked, scenario_lines, trusted
from sdd_harness.graph.infra.selection import Score, backers, best, chosen, settled, suspects
from sdd_harness.nodes import spec, tasks
from sdd_harness.nodes.tasks import TaskPlan, TaskSpec, ticked_tasks

DEFAULT_SAMPLES = 3
DEFAULT_SAMPLE_TEMPERATURE = 0.8
_TICK_LOCK = threading.Lock()  # parallel groups tick one tasks.md


class ApplySummary(BaseModel):
    """What apply did across its visits (folded by the orchestrator from the per-task results)."""

    done: list[int] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    deviations: list[str] = Field(default_factory=list)
    suspect: list[str] = Field(default_factory=list, description="scenario tests every candidate failed")


# ------------------------------------------------------------------------------------ groups and batches


def _plan(state: dict[str, Any]) -> TaskPlan | None:
    data = (state.get("outputs") or {}).get(TASKS)
    return TaskPlan.model_validate(data) if data else None


def groups_of(plan: TaskPlan) -> list[list[int]]:
    return plan.groups or [[i] for i in range(1, len(plan.tasks) + 1)]


def ready_groups(state: dict[str, Any], retry_failed: bool = True) -> list[int]:
    """Groups (1-based) that can run now: pending ones, in order; a group waits for an earlier pending group
    whose files it depends on."""
    plan = _plan(state)
    if plan is None:
        return []
    results = state.get("apply_results") or {}
    groups = groups_of(plan)

    def pending(group: list[int]) -> bool:
        return any(str(i) not in results or (retry_failed and not results[str(i)]["ok"]) for i in group)

    ready: list[int] = []
    waiting_files: set[str] = set()
    for number, group in enumerate(groups, 1):
        if not pending(group):
            continue
        needs = {d.strip().strip("`") for i in group for d in plan.tasks[i - 1].dependencies}
        if ready and needs & waiting_files:
            break
        ready.append(number)
        waiting_files |= {plan.tasks[i - 1].file for i in group}
    return ready


def fan_out(state: dict[str, Any], continuing: bool) -> list[Send]:
    """One apply node per ready group (groups on disjoint files run side by side)."""
    return [Send(APPLY, {**state, "apply_task": g}) for g in ready_groups(state, retry_failed=not continuing)]


def remaining(state: dict[str, Any]) -> str:
    """Groups not yet attempted: every visit records a result for each task it ran, so this shrinks."""
    return f"next task group: {ready}" if (ready := ready_groups(state, retry_failed=False)) else ""


def apply_summary(state: dict[str, Any]) -> dict[str, Any]:
    results = state.get("apply_results") or {}
    by_task = {k: v for k, v in results.items() if k.isdigit()}
    fixes = sorted((k for k in results if k.startswith("fix-")), key=lambda k: int(k.split("-")[1]))
    failed = [v["failed"] for v in by_task.values() if not v["ok"]]
    if fixes and not results[fixes[-1]]["ok"]:
        failed.append(results[fixes[-1]]["failed"])
    changed = sorted({f for v in results.values() for f in v.get("changed", [])})
    suspect = sorted({t for v in results.values() for t in v.get("suspect", [])})
    done = sorted(int(k) for k, v in by_task.items() if v["ok"])
    return {"done": done, "failed": failed, "changed": changed, "deviations": failed, "suspect": suspect}


def collect(state: dict[str, Any]) -> dict[str, Any]:
    summary = apply_summary(state)
    return {"outputs": {APPLY: summary}, "artifacts": {APPLY: ", ".join(summary["changed"])}}


# ------------------------------------------------------------------------------------ prompts


def candidate_prompt(ctx: PhaseContext, plan: TaskPlan, group: list[int], evidence: str) -> str:
    """The request, the scenario tests, the tasks, failing evidence and the files (as outlines)."""
    files = list(dict.fromkeys(plan.tasks[i - 1].file for i in group))
    deps = dependency_signatures(ctx.workspace, [d for t in plan.tasks for d in t.dependencies], files)
    change = ctx.result(spec.PHASE)
    ids = {s for i in group for s in plan.tasks[i - 1].scenarios} or None
    cases = change.cases if change else []
    scenarios = scenario_lines(cases, ids) or scenario_lines(cases)
    tasks = plan.lines(group)
    guidance = (f"The code must pass these scenario tests:\n{scenarios}\n\n" if scenarios else "") + (
        f"Tasks:\n{tasks}\n\n"
    )
    keep = named_identifiers(ctx.request, scenarios, tasks, evidence)
    fresh = new_definitions(ctx.request, tasks, current_texts(ctx.workspace, files))
    ending = ""
    if fresh:  # last, where a small model reads it best: write these, not the existing code again
        ending = f" Write the new definitions {', '.join(f'`{name}`' for name in fresh)} with the imports they need."
    blocks = "\n\n".join(file_block(ctx.workspace, rel, keep) for rel in files)
    return (
        f"Change request (the user's words):\n{ctx.request}\n\n"
        + guidance
        + (f"Code you may use (signatures):\n{deps}\n\n" if deps else "")
        + (f"Failing now:\n{evidence}\n\n" if evidence else "")
        + f"Files:\n{blocks}\n\nChange only: {', '.join(files)}.{ending}"
    )


# ------------------------------------------------------------------------------------ one group


async def work_on(
    ctx: PhaseContext, plan: TaskPlan, group: list[int], evidence: str = "", tested: bool = True
) -> dict[str, Any]:
    """Sample, run, select, repair for one group; the winner is written to the repository."""
    change = ctx.result(spec.PHASE)
    contract = change.tests() if change else []
    weights = change.weights() if change else {}
    trusted_now = trusted(change.cases) | rechecked(change.cases) if change else set()  # re-checked ones too
    examples = {c.test: c.example for c in change.cases if c.example and c.test in contract} if change else {}
    files = list(dict.fromkeys(plan.tasks[i - 1].file for i in group))
    originals = await ctx.io(current_texts, ctx.workspace, files)
    timeout = ctx.settings.command_timeout_s
    start, start_run = await evaluate(ctx.workspace, {}, contract, set(), "current code", timeout_s=timeout)
    checks = {"timeout_s": candidate_timeout(start_run, timeout), "examples": examples}  # a loop costs seconds
    passing = {t for t, o in (start_run.outcomes if start_run else {}).items() if o.status == "passed"}
    baseline = (passing | {t for e in ctx.state.get("apply_log") or [] for t in e.get("baseline", [])}) - set(contract)
    start.regressions = sorted(baseline - passing)  # an earlier visit's winner broke them: not perfect as it is
    binding = ctx.harness.registry.binding(APPLY) if ctx.harness else None
    done_already = bool(contract) and start.perfect() and not evidence
    k = 0 if done_already else binding.samples if binding and binding.samples else DEFAULT_SAMPLES
    if not tested:  # task_loop off: one candidate, written as it is; verify is the only check
        prompt = await ctx.io(candidate_prompt, ctx, plan, group, evidence)
        return await write_untested(ctx, plan, group, prompt, files, originals)
    heat = (
        binding.sample_temperature if binding and binding.sample_temperature is not None else DEFAULT_SAMPLE_TEMPERATURE
    )
    prompt = await ctx.io(candidate_prompt, ctx, plan, group, evidence)
    scores: list[Score] = [start]
    log: list[dict[str, Any]] = []

    async def attempt(
        label: str, text_prompt: str, temperature: float | None, seed: int, escalated: bool = False, system: str = ""
    ) -> Score:
        system, began = system or ctx.system_prompt(), time.monotonic()
        try:
            stop = stops if text_prompt == one_shot else None  # its tests would be refused: not decoded at all
            reply = await ctx.ask_text(
                text_prompt, temperature=temperature, seed=seed, escalated=escalated, system=system, stop=stop
            )
        except Exception as err:  # noqa: BLE001 - a failed call is a failed candidate, the group goes on
            return await judge(label, {}, f"{type(err).__name__}: {str(err)[:300]}", began)
        candidate, problem = await ctx.io(merged_files, ctx.workspace, reply, files, system)
        candidate = await ctx.io(with_declared_names, ctx.workspace, candidate, files, ctx.request) if candidate else {}
        return await judge(label, candidate, problem, began)

    async def judge(label: str, candidate: dict[str, str], problem: str = "", began: float = 0.0) -> Score:
        """Run one candidate in its own copy and log how it did, with its time (model call and run)."""
        ran = time.monotonic()
        score = (
            Score(label=label, error=problem)
            if problem
            else (await evaluate(ctx.workspace, candidate, contract, baseline, label, weights, **checks))[0]
        )
        scores.append(score)
        entry = {
            "tasks": group,
            "step": label,
            "ok": score.perfect(),
            **{count: len(getattr(score, count)) for count in ("passed", "failed", "regressions")},
            "diff": score.diff,
            "error": score.error[:300],
            "seconds": round(time.monotonic() - (began or ran), 1),
            "run_seconds": round(time.monotonic() - ran, 1),
        }
        log.append(entry)
        ctx.emit(
            {"event": "task", "phase": APPLY, "task": group[0], "title": label, "check": "scenario tests", **entry}
        )
        return score

    def out_of_time(where: str) -> bool:
        """The run's time budget is spent: log where apply stopped (the best candidate so far is kept)."""
        if not ctx.out_of_time():
            return False
        entry = {"tasks": group, "step": f"time budget spent: {where}", "ok": False, "error": "the best one is kept"}
        log.append(entry)
        ctx.emit({"event": "task", "phase": APPLY, "task": group[0], **entry})
        return True

    one_shot, _ = await ctx.io(one_shot_prompt, ctx.workspace.root, ctx.request)
    whole = ctx.system_prompt(prompt=ONE_SHOT)
    lean = ctx.harness.prompt(FOCUSED).strip() if ctx.harness else ""  # no output rules: they cost the 1.5B right code

    focused = focused_prompt(ctx.request, originals, evidence)
    kinds = {"full": (prompt, ""), WHOLE_REQUEST: (one_shot, whole), "focused": (focused, lean)}

    def sample(i: int) -> Awaitable[Score]:
        """Draw ``i`` of the schedule in graph.infra.draws, with its prompt."""
        draw = next_draw(i, scores, heat, bool(contract))
        text, system = kinds[draw.kind]
        return attempt(draw.label, text, draw.temperature, draw.seed, system=system)

    concurrent = not (ctx.harness and ctx.harness.config.provider_of(ctx.harness.registry.binding(APPLY)).embedded)
    stops = None if concurrent else stops_before_tests(files)  # embedded only: a cloud model may refuse `stop`
    if concurrent and k:
        await asyncio.gather(*(sample(i) for i in range(k)))
    else:
        for i in range(k):  # a perfect one ends it once another candidate answers the probe calls alike
            if i and out_of_time(f"{i} of {k} samples drawn"):
                break
            if settled(await sample(i), scores[1:], suspects(scores[1:], trusted_now)):
                break

    project: dict[str, str] = {}  # the package sources, read once, the first time a mend may need them

    async def mend_in_code(after: str = "") -> None:
        """Candidates made in code from the model's (graph.infra.compose), run like any other; none run twice."""
        top = best(scores) or scores[0]
        if change and k and not top.perfect(suspects(scores[1:], trusted_now)):
            project.update(project or await ctx.io(package_sources, ctx.workspace, files))
            for label, made in code_repairs(scores[1:], top, change.uses(), change.expectations(), project):
                if all(made != s.files for s in scores):
                    await judge(label + after, made)

    await mend_in_code()  # first: a slipped name mended in code saves a model's repair round
    expected = change.expectations() if change else {}
    for round_ in range(ctx.settings.fix_attempts if k else 0):
        top = best(scores)
        if top is None or top.perfect(suspects(scores[1:], trusted_now)) or not top.files:
            break
        if out_of_time(f"no repair round {round_ + 1}"):
            break
        fixed = await attempt(f"repair {round_ + 1}", repair_prompt(prompt, top, expected), None, 100 + round_)
        if fixed.files and fixed.files == top.files:  # greedy decoding gave the same code back: sample instead
            await attempt(f"repair {round_ + 1} (t={heat})", repair_prompt(prompt, top, expected), heat, 150 + round_)
        await mend_in_code(", after repair")
    escalation = ctx.harness.registry.escalation(APPLY) if ctx.harness else None
    unsettled = not (best(scores) or scores[0]).perfect(suspects(scores[1:], trusted_now))
    if k and escalation is not None and unsettled and not out_of_time("no escalated candidate"):
        await attempt("escalated", prompt, None, 200, escalated=True)
    return await settle(ctx, plan, group, scores, originals, log, baseline)


async def settle(
    ctx: PhaseContext,
    plan: TaskPlan,
    group: list[int],
    scores: list[Score],
    originals: dict[str, str | None],
    log: list[dict[str, Any]],
    baseline: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Write the winner, judge each task, tick and commit the done ones. ``baseline`` (existing tests passing
    before the first visit) goes in the log: a later visit still counts a test an earlier winner broke."""
    change = ctx.result(spec.PHASE)
    cases = change.cases if change else []
    suspect = suspects(scores[1:], trusted(cases), rechecked(cases))  # verify ends the run on a re-checked one
    winner = chosen(scores)
    changed: list[str] = []
    if winner is not None and winner.files and winner is not scores[0]:
        for rel, text in winner.files.items():
            await ctx.io(ctx.workspace.write, rel, text)
        changed = sorted(winner.files)
    passing = set(winner.passed) if winner else set()
    results: dict[str, Any] = {}
    for index in group:
        task = plan.tasks[index - 1]
        tests = [c.test for c in change.cases if c.id in task.scenarios and c.test] if change else []
        now = (await ctx.io(current_texts, ctx.workspace, [task.file]))[task.file]
        touched = now != originals.get(task.file) or task.file in changed_by_run(ctx.state)
        missing = [t.split("::")[-1] for t in tests if t not in passing and t not in suspect]
        clean = winner is not None and not (set(winner.failed) - suspect) and not winner.regressions
        needless = not touched and not tests and bool(changed) and clean  # e.g. a package face no test needs
        ok = (touched or needless) and not missing and not (winner and winner.regressions)
        problems = [f"scenario tests still failing: {', '.join(missing)}"] if missing else []
        problems += [f"breaks {', '.join(winner.regressions[:5])}"] if winner and winner.regressions else []
        why = "; ".join(problems) if touched else "its file did not change"  # both: the next visit fixes both
        results[str(index)] = {
            "ok": ok,
            "changed": [task.file] if touched else [],
            "failed": "" if ok else f"1.{index} {task.task}: {why}",
            "suspect": sorted(suspect),
        }
        if ok:
            await ctx.io(_tick, ctx, index, needless)
    done = [i for i in group if results[str(i)]["ok"]]
    if done and changed:
        message = f"sdd({ctx.paths.change_id}): " + "; ".join(f"1.{i} {plan.tasks[i - 1].task}" for i in done)
        await ctx.io(commit_paths, ctx.workspace.root, [*changed, ctx.paths.rel("tasks.md")], message, ctx.git)
    summary = {
        "tasks": group,
        "files": changed,
        "candidates": [s.model_dump() for s in scores],
        "winner": winner.label if winner else None,
        "backers": backers(winner, scores[1:]) if winner and winner.behaviour else 0,  # same probe answers
        "suspect": sorted(suspect),
        "baseline": sorted(baseline),
    }
    return {"results": results, "log": [*log, {"tasks": group, "step": "selected", "ok": bool(done), **summary}]}


async def write_untested(
    ctx: PhaseContext, plan: TaskPlan, group: list[int], prompt: str, files: list[str], originals: dict[str, str | None]
) -> dict[str, Any]:
    """``task_loop: false``: the first candidate is written without running anything; a task counts as done
    when its file changed (verify runs the tests and sends failures back)."""
    reply = await ctx.ask_text(prompt)
    candidate, problem = await ctx.io(merged_files, ctx.workspace, reply, files, ctx.system_prompt())
    for rel, text in candidate.items():
        await ctx.io(ctx.workspace.write, rel, text)
    results: dict[str, Any] = {}
    for index in group:
        task = plan.tasks[index - 1]
        now = (await ctx.io(current_texts, ctx.workspace, [task.file]))[task.file]
        touched = now != originals.get(task.file) or task.file in changed_by_run(ctx.state)
        failed = (
            "" if touched else f"1.{index} {task.task}: its file did not change" + (f" ({problem})" if problem else "")
        )
        changed = [task.file] if touched else []
        results[str(index)] = {"ok": touched, "changed": changed, "failed": failed, "suspect": []}
        if touched:
            await ctx.io(_tick, ctx, index)
    entry = {
        "tasks": group,
        "step": "selected",
        "ok": all(r["ok"] for r in results.values()),
        "files": sorted(candidate),
    }
    return {"results": results, "log": [{**entry, "winner": "sample 1 (untested)", "candidates": [], "suspect": []}]}


def changed_by_run(state: dict[str, Any]) -> set[str]:
    """Files a winning candidate wrote in any apply visit of this run (the log survives a new task plan)."""
    return {
        f for entry in state.get("apply_log") or [] if entry.get("step") == "selected" for f in entry.get("files", [])
    }


def _tick(ctx: PhaseContext, index: int, needless: bool = False) -> None:
    """Tick task ``index`` in tasks.md; a task that needed no change loses its checkbox (it is not work done)."""
    rel = ctx.paths.rel("tasks.md")
    mark = "{} (not needed: every scenario test passes without changing its file)" if needless else "[x] {}"
    with _TICK_LOCK:
        if ctx.workspace.exists(rel):
            text = ctx.workspace.read(rel)
            ticked = re.sub(rf"^- \[ \] (1\.{index} .*)$", lambda m: f"- {mark.format(m.group(1))}", text, flags=re.M)
            ctx.workspace.write(rel, ticked)


# ------------------------------------------------------------------------------------ the phase


async def run(ctx: PhaseContext) -> dict[str, Any]:
    """A group of tasks per visit (``apply_task`` = the group's number, from ``Send``); after a verify
    loop-back with every task done, one more round over the whole change, fed the failing evidence."""
    plan = ctx.result(tasks.PHASE) or TaskPlan(tasks=[TaskSpec(task="none", file="none")])
    groups = groups_of(plan)
    summary = apply_summary(ctx.state)
    number = ctx.state.get("apply_task")
    if number is None and ctx.feedback and len(summary["done"]) == len(plan.tasks):
        fixes = sum(1 for k in ctx.state.get("apply_results") or {} if k.startswith("fix-"))
        outcome = await work_on(ctx, plan, list(range(1, len(plan.tasks) + 1)), ctx.feedback)
        per_task = outcome["results"].values()
        results = {
            f"fix-{fixes + 1}": {
                "ok": all(r["ok"] for r in per_task),
                "changed": sorted({f for r in per_task for f in r["changed"]}),
                "failed": "; ".join(r["failed"] for r in per_task if r["failed"]),
                "suspect": sorted({s for r in per_task for s in r["suspect"]}),
            }
        }
    else:
        number = number or (ready_groups(ctx.state)[:1] or [1])[0]
        outcome = await work_on(ctx, plan, groups[number - 1], tested=ctx.settings.task_loop)
        results = outcome["results"]
    return {"apply_results": results, "apply_log": outcome["log"], "feedback": {APPLY: ""}}


def check(ctx: GateContext) -> list[str]:
    out = apply_summary(ctx.state)
    problems = list(out.get("failed", []))
    tasks_md = ctx.paths.dir / "tasks.md"
    if tasks_md.is_file():
        done, total = ticked_tasks(tasks_md.read_text(encoding="utf-8"))
        if done < total and not problems:
            problems.append(f"only {done}/{total} tasks are ticked in tasks.md")
    return problems


PHASE = Phase(
    name=APPLY,
    run=run,
    check=check,
    output=ApplySummary,
    fan_out=fan_out,
    remaining=remaining,
    collect=collect,
)
