"""sdd-verify: run the real commands, read each scenario's own test, give a verdict. Never fixes.

Every scenario with an example has its own test in the change (written by spec before any code), so the
compliance matrix is read from the run, not guessed: COMPLIANT when that test passed, FAILING when it did not.
Only scenarios without a test (prose, or a test dropped as broken) are linked to other tests, by the model.
A change is not PASS while a scenario test fails; a test every apply candidate failed is named as suspect.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import VERIFY
from sdd_harness.graph.infra.markdown import bullets
from sdd_harness.graph.infra.testrun import TestOutcome, is_pytest, quiet, run_pytest
from sdd_harness.graph.infra.workspace import CommandResult
from sdd_harness.nodes import apply, init, spec
from sdd_harness.nodes.tasks import ticked_tasks

ARTIFACT = "verify-report.md"


class ComplianceRow(BaseModel):
    capability: str
    requirement: str
    scenario: str
    test: str | None = None
    result: Literal["COMPLIANT", "FAILING", "UNTESTED", "PARTIAL"] = "UNTESTED"


class ScenarioLink(BaseModel):
    scenario: str = Field(description="Scenario name exactly as listed.")
    test: str | None = Field(None, description="Test id from the list that covers it, or null.")


class ScenarioLinks(BaseModel):
    """Model output: which test covers which scenario."""

    links: list[ScenarioLink] = Field(default_factory=list)


Verdict = Literal["PASS", "PASS WITH WARNINGS", "FAIL"]


class VerifyReport(BaseModel):
    verdict: Verdict
    tasks_done: int
    tasks_total: int
    commands: list[dict] = Field(default_factory=list)
    matrix: list[ComplianceRow] = Field(default_factory=list)
    failing_tests: list[str] = Field(default_factory=list)
    suspect: list[str] = Field(
        default_factory=list, description="failing model-written scenario tests every apply candidate failed"
    )
    unsolved: list[str] = Field(
        default_factory=list, description="failing scenario tests every apply candidate failed, re-checked or not"
    )
    issues: list[str] = Field(default_factory=list)

    def render(self) -> str:
        cmds = (
            "\n".join(
                f"| `{c['command']}` | {'timeout' if c.get('timed_out') else c['exit_code']} | {c['seconds']:.1f}s |"
                for c in self.commands
            )
            or "| (none) | | |"
        )
        rows = (
            "\n".join(
                f"| {r.requirement} | {r.scenario} | {f'`{r.test}`' if r.test else '-'} | {r.result} |"
                for r in self.matrix
            )
            or "| (no scenarios) | | | |"
        )
        outputs = "\n\n".join(
            f"### `{c['command']}`\n```\n{c['output'][-1500:]}\n```" for c in self.commands if c.get("exit_code") != 0
        )
        return (
            f"# Verify Report\n\n**Verdict: {self.verdict}**\n\n## Completeness\n- Tasks: "
            f"{self.tasks_done}/{self.tasks_total} complete\n\n## Build & Tests\n| Command | Exit | Time |\n"
            f"|---|---|---|\n{cmds}\n\n## Spec Compliance Matrix\n| Requirement | Scenario | Test | Result |\n"
            f"|---|---|---|---|\n{rows}\n\n## Issues\n{bullets(self.issues)}\n"
            + (f"\n## Failing Output\n{outputs}\n" if outputs else "")
        )


def changed_files(ctx: PhaseContext) -> list[str]:
    summary = ctx.result(apply.PHASE)
    return summary.changed if summary else []


def verify_commands(ctx: PhaseContext) -> list[str]:
    configured = ctx.settings.verify_commands
    if configured:
        return configured
    project = ctx.result(init.PHASE)
    return [project.test_command] if project and project.test_command else []


async def run_commands(ctx: PhaseContext, commands: list[str]) -> tuple[list[CommandResult], dict[str, TestOutcome]]:
    """Each command for real; pytest commands report every test's outcome (JUnit XML, kept outside the repo)."""
    results: list[CommandResult] = []
    outcomes: dict[str, TestOutcome] = {}
    for command in commands:
        if is_pytest(command):
            run = await run_pytest(ctx.workspace, [], ctx.settings.command_timeout_s, base=command)
            results.append(run.result)
            outcomes |= run.outcomes
        else:
            results.append(await ctx.workspace.run(quiet(command), ctx.settings.command_timeout_s))
    return results, outcomes


async def link_scenarios(ctx: PhaseContext, scenarios: list[str], tests: list[str]) -> dict[str, str]:
    """The model's pick of an existing test for each scenario that has none of its own (or null)."""
    if not scenarios or not tests:
        return {}
    listing = "\n".join(f"- {s}" for s in scenarios)
    test_list = "\n".join(f"- {t}" for t in tests[:80])
    links = await ctx.ask(
        ScenarioLinks,
        f"Scenarios:\n{listing}\n\nTests:\n{test_list}\n\nFor each scenario pick the one test that checks it, or null.",
    )
    known = set(tests)
    return {link.scenario: link.test for link in links.links if link.test in known}


def exercises(ctx: PhaseContext, test_id: str, text: str) -> bool:
    """A test the model linked must at least call something the change defines that the scenario names."""
    path, _, name = test_id.partition("::")
    if not ctx.workspace.exists(path):
        return False
    body = re.search(
        rf"^(?:async )?def {re.escape(name.split('[')[0])}\(.*?(?=^\S|\Z)", ctx.workspace.read(path), re.M | re.S
    )
    defined: set[str] = set()
    for rel in changed_files(ctx):
        if rel.endswith(".py") and ctx.workspace.exists(rel):
            defined |= set(re.findall(r"^(?:async )?(?:def|class) (\w+)", ctx.workspace.read(rel), re.M))
    subjects = set(re.findall(r"[A-Za-z_]\w+", text)) & defined
    return bool(body) and (not subjects or any(re.search(rf"\b{re.escape(s)}\b", body.group(0)) for s in subjects))


def verdict_for(
    results: list[CommandResult], done: int, total: int, matrix: list[ComplianceRow], require_coverage: bool = False
) -> str:
    if not results or any(not r.ok for r in results) or done < total:
        return "FAIL"
    if any(row.result == "FAILING" for row in matrix):
        return "FAIL"
    if require_coverage and any(row.result == "UNTESTED" for row in matrix):
        return "FAIL"
    if any(row.result != "COMPLIANT" for row in matrix):
        return "PASS WITH WARNINGS"
    return "PASS"


async def run(ctx: PhaseContext) -> dict[str, Any]:
    results, outcomes = await run_commands(ctx, verify_commands(ctx))
    change = ctx.result(spec.PHASE)
    summary = ctx.result(apply.PHASE)
    cases = change.cases if change else []
    own = {c.id: c.test for c in cases if c.test and c.red in ("new", "kept")}
    if change and change.test_file and any(t not in outcomes for t in own.values()):
        run = await run_pytest(ctx.workspace, [change.test_file], ctx.settings.command_timeout_s)
        outcomes |= run.outcomes  # the contract runs even when the configured command does not collect it
    untested = [c.name for c in cases if c.id not in own]
    links = await link_scenarios(ctx, untested, sorted(t for t in outcomes if t not in own.values()))
    matrix = []
    for case in cases:
        linked = links.get(case.name)
        if linked and not await ctx.io(exercises, ctx, linked, f"{case.requirement} {case.name} {ctx.request}"):
            linked = None  # a linked test that calls none of what the scenario is about is no evidence
        test = own.get(case.id) or linked
        outcome = outcomes.get(test) if test else None
        result = "UNTESTED" if not test else "COMPLIANT" if outcome and outcome.status == "passed" else "FAILING"
        matrix.append(
            ComplianceRow(
                capability=case.capability, requirement=case.requirement, scenario=case.name, test=test, result=result
            )
        )
    tasks_md = ctx.paths.dir / "tasks.md"
    done, total = ticked_tasks(tasks_md.read_text(encoding="utf-8")) if tasks_md.is_file() else (0, 0)
    failing = sorted(t for t, o in outcomes.items() if o.status in ("failed", "error"))
    disputable = {c.test for c in cases if c.test and c.origin == "model" and not c.confirmed}
    unsolved = [t for t in (summary.suspect if summary else []) if t in failing]
    suspect = [t for t in unsolved if t in disputable]
    issues = [
        f"CRITICAL: `{r.command}` exited {r.exit_code if not r.timed_out else 'on timeout'}"
        for r in results
        if not r.ok
    ]
    issues += [f"CRITICAL: only {done}/{total} tasks complete"] if done < total else []
    issues += [
        f"CRITICAL: scenario '{row.scenario}' test `{row.test}` fails" for row in matrix if row.result == "FAILING"
    ]
    issues += [f"SUSPECT: `{t}` failed for every candidate apply tried; the scenario may be wrong" for t in suspect]
    level = "CRITICAL" if ctx.settings.require_coverage else "WARNING"
    issues += [f"{level}: scenario '{row.scenario}' is UNTESTED" for row in matrix if row.result == "UNTESTED"]
    issues += ["CRITICAL: no verify command configured or detected"] if not results else []
    report = VerifyReport(
        verdict=verdict_for(results, done, total, matrix, ctx.settings.require_coverage),
        tasks_done=done,
        tasks_total=total,
        commands=[r.model_dump() for r in results],
        matrix=matrix,
        failing_tests=failing,
        suspect=suspect,
        unsolved=unsolved,
        issues=issues,
    )
    rel = await ctx.write_artifact(ARTIFACT, report.render())
    return {"outputs": {VERIFY: report.model_dump()}, "artifacts": {VERIFY: rel}}


def check(ctx: GateContext) -> list[str]:
    if ctx.result(PHASE) is None:
        return ["verify produced no report"]
    if not ctx.workspace.exists(ctx.paths.rel(ARTIFACT)):
        return [f"{ctx.paths.rel(ARTIFACT)} was not written"]
    return []


PHASE = Phase(name=VERIFY, run=run, check=check, output=VerifyReport, artifact=ARTIFACT)
