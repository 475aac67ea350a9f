"""The orchestrator: a gate coordinator that writes no code, and the graph's only router.

After every phase it runs the phase's deterministic checks first; only a failed verification needs its
model's judgment (code wrong -> apply, requirement wrong -> spec). Obvious passes cost no model call and
its prompt carries check results and short summaries, never whole artifacts. It routes by returning
``Command(goto=...)``: the next phase, a parallel group, or the ``Send``s a phase's ``fan_out`` asks for.
Every way back is bounded: gate failures per phase and loop-backs by ``max_attempts``, a phase's remaining
work by its own progress (a visit that makes none is a gate failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Send, interrupt
from pydantic import BaseModel, Field

from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.llm import ModelOutputError, ask_structured
from sdd_harness.graph.core.phase import GateContext, GraphNode, Harness, change_paths, workspace_of
from sdd_harness.graph.core.phases import APPLY, ARCHIVE, ORCHESTRATOR, SPEC, VERIFY
from sdd_harness.graph.core.report import write_report
from sdd_harness.graph.core.state import SDDState
from sdd_harness.graph.core.usage import CallRecorder
from sdd_harness.graph.infra.scenarios import NO_WORKING_TEST
from sdd_harness.graph.infra.workspace import Workspace

Action = str  # advance | retry | back_to_<phase> | skip_to_<phase> | continue | stop | done


class Judgement(BaseModel):
    """The orchestrator model's call on a failed verification."""

    target: Literal["sdd-apply", "sdd-spec"] = Field(
        description="sdd-apply if the code is wrong; sdd-spec if a requirement is wrong, ambiguous or untestable."
    )
    reason: str = Field(description="One sentence.")


class Decision(BaseModel):
    phase: str
    action: Action
    next: str
    reason: str
    by: Literal["gate", "model", "human", "budget"] = "gate"


def next_group(groups: list[list[str]], phase: str) -> list[str]:
    """The phases that run after ``phase``'s group (several = in parallel), or [END]."""
    index = next(i for i, group in enumerate(groups) if phase in group)
    return groups[index + 1] if index + 1 < len(groups) else [END]


def loopbacks(state: SDDState) -> int:
    return sum(1 for d in state.get("decisions") or [] if d["action"].startswith("back_to_"))


def failure_evidence(verify: dict[str, Any], limit: int = 1800) -> str:
    failing = [c for c in verify.get("commands", []) if c.get("exit_code") != 0]
    output = "\n".join(c.get("output", "")[-limit:] for c in failing)
    return f"Failing tests: {', '.join(verify.get('failing_tests', [])[:10]) or '(see output)'}\n{output[-limit:]}"


_VERDICT_LINE = re.compile(r"^(E  |FAILED |ERROR |\w*(Error|Exception)\b|=+ .*\b(failed|error)s?\b)")


def verdict_lines(verify: dict[str, Any], limit: int = 700) -> str:
    """Only the lines that say what failed (pytest's E/FAILED lines, exception names): the judge's evidence."""
    failing = [c for c in verify.get("commands", []) if c.get("exit_code") != 0]
    lines = [ln.rstrip() for c in failing for ln in c.get("output", "").splitlines() if _VERDICT_LINE.match(ln)]
    text = "\n".join(dict.fromkeys(lines))
    return text[:limit] if text else failure_evidence(verify, limit)


async def judge(harness: Harness, state: SDDState, recorder: CallRecorder) -> Judgement:
    verify = (state.get("outputs") or {}).get(VERIFY) or {}
    requirements = list(dict.fromkeys(row["requirement"] for row in verify.get("matrix", [])))[:8]
    user = (
        f"Verification failed.\nIssues: {'; '.join(i[:160] for i in verify.get('issues', [])[:4])}\n"
        f"Requirements: {'; '.join(requirements) or '(none)'}\n{verdict_lines(verify)}\n\n"
        "Is the code wrong (sdd-apply) or a requirement wrong/ambiguous/untestable (sdd-spec)?"
    )
    messages = [SystemMessage(harness.prompt(ORCHESTRATOR)), HumanMessage(user)]
    provider = harness.config.providers[harness.config.provider_name(harness.registry.binding(ORCHESTRATOR))]
    try:
        return await ask_structured(
            harness.registry.runnable(ORCHESTRATOR),
            Judgement,
            messages,
            mode=provider.structured_output,
            repairs=1,
            config={"callbacks": [recorder]},
        )
    except ModelOutputError as err:
        return Judgement(target="sdd-apply", reason=f"judgment unavailable ({err}); defaulting to apply")


def human_gate(phase: str, artifact: str, workspace: Workspace) -> dict[str, str]:
    """Pause for a reviewer; returns {'action': approve|reject|stop, 'feedback': ...}."""
    content = ""
    for rel in [a.strip() for a in artifact.split(",") if a.strip()][:3]:
        if workspace.exists(rel):
            content += f"--- {rel}\n{workspace.read(rel)[:4000]}\n"
    while True:
        answer = interrupt(
            {
                "phase": phase,
                "artifact": artifact,
                "content": content,
                "options": ["approve", "reject", "stop"],
            }
        )
        parsed = parse_approval(answer)
        if parsed:
            return parsed


def parse_approval(answer: Any) -> dict[str, str] | None:
    """Accept 'approve' / 'stop' / 'reject: why' strings or {'action':..., 'feedback':...} dicts."""
    if isinstance(answer, str):
        word, _, rest = answer.strip().partition(":")
        answer = {"action": word.strip().lower(), "feedback": rest.strip()}
    if not isinstance(answer, dict):
        return None
    action = str(answer.get("action", "")).lower()
    aliases = {
        "yes": "approve",
        "y": "approve",
        "ok": "approve",
        "no": "reject",
        "n": "reject",
        "quit": "stop",
    }
    action = aliases.get(action, action)
    if action not in ("approve", "reject", "stop"):
        return None
    return {"action": action, "feedback": str(answer.get("feedback") or "")}


def make_orchestrator(harness: Harness, groups: list[list[str]]) -> GraphNode:
    """The orchestrator node for a phase order (phases in one group run in parallel)."""
    destinations = tuple(name for group in groups for name in group)

    async def orchestrator(state: SDDState, runtime: Runtime[Context]) -> Command[Any]:
        context: Context = runtime.context or Context()
        settings = harness.settings(context)
        workspace = workspace_of(context, harness, settings)
        gate = GateContext(
            state=state,
            workspace=workspace,
            paths=change_paths(state, workspace, settings),
            settings=settings,
        )
        recorder = CallRecorder(ORCHESTRATOR, harness.pricer, harness.registry.lookup)
        finished = list(dict.fromkeys(state.get("step_phases") or []))
        collected = {k: v for name in finished if (c := harness.phases[name].collect) for k, v in c(state).items()}
        seen = {**state, "outputs": {**(state.get("outputs") or {}), **collected.get("outputs", {})}}
        decision, feedback, targets = Decision(phase="", action="advance", next="", reason=""), {}, [END]
        for phase in finished:
            decision, feedback = await decide(harness, seen, gate, groups, recorder, context, phase)
            targets = next_group(groups, phase) if decision.action == "advance" else [decision.next]
            if decision.action != "advance":
                break
        decision.next = ", ".join(targets)
        update: dict[str, Any] = {
            **collected,
            "decisions": [decision.model_dump()],
            "calls": [r.model_dump() for r in recorder.records],
            "step_phases": None,
            "feedback": feedback,
        }
        if decision.next == END:
            update["status"], update["status_reason"] = final_status(decision)
            update["pending_phase"] = "" if decision.action == "done" else decision.phase
        (runtime.stream_writer or (lambda e: None))({"event": "gate", **decision.model_dump()})
        if decision.next == END:
            merged = {
                **seen,
                **update,
                "decisions": [*(state.get("decisions") or []), decision.model_dump()],
                "calls": [*(state.get("calls") or []), *update["calls"]],
            }
            await asyncio.to_thread(write_report, merged, gate.paths, harness)
            if harness.on_run_end:
                with contextlib.suppress(Exception):  # bookkeeping must never stop a run
                    await asyncio.to_thread(harness.on_run_end, merged, context)
        return Command(
            goto=route(harness, {**seen, "feedback": {**(state.get("feedback") or {}), **feedback}}, decision, targets),
            update=update,
        )

    assert destinations
    return GraphNode(orchestrator)


def route(harness: Harness, state: SDDState, decision: Decision, targets: list[str]) -> str | list[str] | list[Send]:
    """Where the run goes: END, one phase, a parallel group, or the Sends of a phase that fans out."""
    if targets == [END]:
        return END
    if len(targets) == 1:
        phase = harness.phases[targets[0]]
        fresh = not (state.get("feedback") or {}).get(phase.name)
        if phase.fan_out and fresh:
            sends = phase.fan_out(state, decision.action == "continue")
            if sends:
                return sends
        return targets[0]
    return targets


def final_status(decision: Decision) -> tuple[str, str]:
    if decision.action == "done":
        return "done", decision.reason
    if decision.by == "budget":
        return "budget_exceeded", decision.reason
    if decision.by == "human":
        return "stopped", decision.reason
    return "failed", decision.reason


async def decide(
    harness: Harness,
    state: SDDState,
    gate: GateContext,
    groups: list[list[str]],
    recorder: CallRecorder,
    context: Context,
    phase: str,
) -> tuple[Decision, dict[str, str]]:
    """The gate after one phase: budget, then errors, then work the phase has left, then its checks."""
    settings = gate.settings
    upcoming = next_group(groups, phase)[0]
    declared = harness.phases[phase]
    spec = harness.config.phases.get(phase)
    on_fail = spec.on_fail if spec else "retry"
    over = harness.budget_problem(state, settings)
    if over:
        pending = phase if (state.get("errors") or {}).get(phase) else upcoming
        return Decision(phase=pending, action="stop", next=END, reason=over, by="budget"), {}
    error = (state.get("errors") or {}).get(phase, "")
    if not error and declared.remaining and (left := declared.remaining(state)):
        return Decision(phase=phase, action="continue", next=phase, reason=left), {}
    check = declared.check or (lambda _: [])
    view = GateContext(state=state, workspace=gate.workspace, paths=gate.paths, settings=settings)
    problems = ([error] if error else []) + await asyncio.to_thread(check, view)
    no_contract = problems == [NO_WORKING_TEST] and phase == SPEC and on_fail == "retry"
    if no_contract and gate_failures(state, phase) >= settings.max_attempts:
        reason = f"{NO_WORKING_TEST.split(':')[0]} after {gate_failures(state, phase)} attempts: going on without a "
        reason += "contract (apply's candidates, the whole-request one first, are checked by the existing tests)"
        if not context.auto_approve and (human := await ask_human(state, gate, phase, upcoming)):
            return human  # a reviewer who asked to see the spec still does, contract or not
        return Decision(phase=phase, action="advance", next=upcoming, reason=reason), {}
    if problems:
        return on_gate_failure(state, phase, problems, settings.max_attempts, on_fail)
    if phase == VERIFY:
        verdict = ((state.get("outputs") or {}).get(VERIFY) or {}).get("verdict")
        if verdict == "FAIL":
            return await loop_back(harness, state, recorder, settings.max_attempts)
    if not context.auto_approve:
        human = await ask_human(state, gate, phase, upcoming)
        if human:
            return human
    if phase == SPEC and (revision := ((state.get("outputs") or {}).get(SPEC) or {}).get("revision")):
        return after_recheck(state, revision)
    if upcoming == END:
        return Decision(phase=phase, action="done", next=END, reason="all phases passed their gates"), {}
    return Decision(phase=phase, action="advance", next=upcoming, reason="checks passed"), {}


def after_recheck(state: SDDState, revision: dict[str, Any]) -> tuple[Decision, dict[str, str]]:
    """Where the run goes after spec re-checked the scenarios every candidate failed. Design and tasks do not
    depend on a scenario's expected value, so they stand: code that now passes every test goes to verify,
    corrected tests go to apply, and tests the spec stands by end the run (the code is kept). Sending those to
    apply as well was measured and made things worse: the 1.5B spec stood by a wrong test in most such runs,
    and apply then wrote code that passed it against the request's own words."""
    names = ", ".join(t.split("::")[-1] for t in revision.get("rechecked") or []) or "the suspect scenarios"
    if revision.get("green"):
        reason = f"re-checked {names}: the code as it is passes every scenario test"
        return Decision(phase=SPEC, action="skip_to_verify", next=VERIFY, reason=reason), {}
    if changed := [t.split("::")[-1] for t in revision.get("changed") or []]:
        test_file = ((state.get("outputs") or {}).get(SPEC) or {}).get("test_file") or "the contract"
        reason = f"re-checked {names}: {', '.join(changed)} corrected; apply aims at the new tests"
        return Decision(phase=SPEC, action="skip_to_apply", next=APPLY, reason=reason), {
            APPLY: f"The spec corrected these scenario tests in {test_file}: {', '.join(changed)}. "
            "Make the code pass every test there; keep what already passes."
        }
    reason = (
        f"the spec stands by {names}, which every candidate apply tried fails; the code is kept and "
        f"{VERIFY}'s report names the failing tests"
    )
    return Decision(phase=SPEC, action="stop", next=END, reason=reason), {}


async def ask_human(state: SDDState, gate: GateContext, phase: str, upcoming: str) -> tuple[Decision, dict] | None:
    gates = gate.settings.approval_gates
    before_archive = "before-archive" in gates and upcoming == ARCHIVE
    if phase not in gates and not before_archive:
        return None
    artifact = (state.get("artifacts") or {}).get(phase, "")
    started = time.perf_counter()
    answer = human_gate(phase, artifact, gate.workspace)
    waited = f" after {time.perf_counter() - started:.0f}s" if time.perf_counter() - started > 1 else ""
    if answer["action"] == "stop":
        return Decision(phase=phase, action="stop", next=END, reason=f"stopped by reviewer{waited}", by="human"), {}
    if answer["action"] == "reject":
        feedback = answer["feedback"] or "The reviewer rejected this; improve it."
        return Decision(phase=phase, action="retry", next=phase, reason=f"rejected: {feedback}", by="human"), {
            phase: f"Reviewer feedback: {feedback}"
        }
    return None


def on_gate_failure(
    state: SDDState, phase: str, problems: list[str], max_attempts: int, on_fail: str
) -> tuple[Decision, dict]:
    """What the config says to do when a phase fails its gate: retry it, stop, or send work back."""
    reason = "; ".join(problems)[:1500]
    if on_fail == "stop":
        return Decision(phase=phase, action="stop", next=END, reason=f"{phase} failed its gate: {reason}"), {}
    if on_fail.startswith("back_to:"):
        target = on_fail.removeprefix("back_to:")
        if exhausted := loop_bound_reached(state, phase, max_attempts, "still failing"):
            return exhausted, {}
        action = f"back_to_{target.removeprefix('sdd-')}"
        return Decision(phase=phase, action=action, next=target, reason=reason), {target: f"{phase}: {reason}"}
    return retry_or_stop(state, phase, problems, max_attempts)


def loop_bound_reached(state: SDDState, phase: str, max_attempts: int, what: str) -> Decision | None:
    """The stop decision once the run has looped back ``max_attempts`` times, else None."""
    if loopbacks(state) < max_attempts:
        return None
    reason = f"{what if phase == VERIFY else f'{phase} {what}'} after {loopbacks(state)} loop-back(s)"
    return Decision(phase=phase, action="stop", next=END, reason=reason)


def gate_failures(state: SDDState, phase: str) -> int:
    """This gate failure and the earlier ones that sent ``phase`` back for a retry."""
    decisions = state.get("decisions") or []
    return 1 + sum(1 for d in decisions if d["phase"] == phase and d["action"] == "retry" and d["by"] == "gate")


def retry_or_stop(state: SDDState, phase: str, problems: list[str], max_attempts: int) -> tuple[Decision, dict]:
    """Gate failures (not runs) count against the bound, so a loop-back rerun gets its own retries."""
    failures = gate_failures(state, phase)
    reason = "; ".join(problems)[:1500]
    if failures >= max_attempts:
        return Decision(
            phase=phase, action="stop", next=END, reason=f"{phase} failed its gate {failures} time(s): {reason}"
        ), {}
    return Decision(phase=phase, action="retry", next=phase, reason=reason), {phase: reason}


async def loop_back(
    harness: Harness, state: SDDState, recorder: CallRecorder, max_attempts: int
) -> tuple[Decision, dict]:
    """Where a failed verification goes: scenario tests that every apply candidate failed point at the spec
    (decided in code, with what the code returned), and end the run once the spec has re-checked them;
    otherwise the orchestrator model judges."""
    verify = (state.get("outputs") or {}).get(VERIFY) or {}
    if exhausted := loop_bound_reached(state, VERIFY, max_attempts, "verification still FAIL"):
        return exhausted, {}
    evidence = failure_evidence(verify)
    failing, suspect = set(verify.get("failing_tests") or []), set(verify.get("suspect") or [])
    unsolved = set(verify.get("unsolved") or []) | suspect  # every candidate failed them; suspect: not re-checked
    if failing and failing <= unsolved and failing & suspect:
        names = ", ".join(sorted(t.split("::")[-1] for t in failing & suspect))
        reason = f"every candidate failed {names}: the scenario may be wrong"
        return Decision(phase=VERIFY, action="back_to_spec", next=SPEC, reason=reason), {
            SPEC: f"{reason}. Check each against the request's own words and fix its expected value or input.\n"
            f"{verdict_lines(verify, 1200)}"
        }
    if failing and failing <= unsolved:  # each re-checked by spec, and failed by every candidate since
        names = ", ".join(sorted(t.split("::")[-1] for t in failing))
        reason = f"every candidate apply tried fails {names}, which the spec re-checked: another loop repeats the work"
        return Decision(phase=VERIFY, action="stop", next=END, reason=reason), {}
    verdict = await judge(harness, state, recorder)
    if verdict.target == SPEC:
        return Decision(phase=VERIFY, action="back_to_spec", next=SPEC, reason=verdict.reason, by="model"), {
            SPEC: f"Verification failed and the requirement looks wrong: {verdict.reason}\n{evidence[:800]}"
        }
    return Decision(phase=VERIFY, action="back_to_apply", next=APPLY, reason=verdict.reason, by="model"), {
        APPLY: evidence
    }
