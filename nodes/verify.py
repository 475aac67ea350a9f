"""sdd-verify: run the real test/lint commands, link scenarios to tests, give a verdict. Never fixes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import VERIFY
from sdd_harness.graph.infra.markdown import bullets
from sdd_harness.graph.infra.openspec import list_scenarios
from sdd_harness.graph.infra.workspace import CommandResult
from sdd_harness.nodes import apply, init, tasks
from sdd_harness.nodes.tasks import ticked_tasks

ARTIFACT = "verify-report.md"
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED)\s+(\S+::\S+)", re.MULTILINE)


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


def with_outcomes(command: str) -> str:
    """Ask pytest for one line per test so the matrix can cite real results."""
    if "pytest" in command and " -r" not in command:
        return f"{command} -rA"
    return command


def test_outcomes(results: list[CommandResult]) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for result in results:
        for status, test_id in _OUTCOME.findall(result.output):
            outcomes[test_id] = "FAILED" if status in ("FAILED", "ERROR") else status
    return outcomes


async def link_scenarios(ctx: PhaseContext, scenarios: list[tuple[str, str, str]], tests: list[str]) -> dict[str, str]:
    if not scenarios or not tests:
        return {}
    listing = "\n".join(f"- {s}" for _, _, s in scenarios)
    test_list = "\n".join(f"- {t}" for t in tests[:80])
    links = await ctx.ask(
        ScenarioLinks,
        f"Scenarios:\n{listing}\n\nTests:\n{test_list}\n\nFor each scenario pick the one test that checks it, or null.",
    )
    known = set(tests)
    return {link.scenario: link.test for link in links.links if link.test in known}


def candidate_tests(changed: list[str], tests: list[str]) -> list[str]:
    """Tests the change can be linked to: those in test files it touched or named after modules it touched.

    On a big repository listing every test id would dwarf the prompt; a repo with no such tests keeps all.
    """
    touched = {rel for rel in changed if is_test_path(rel)}
    stems = {Path(rel).stem for rel in changed if rel.endswith(".py") and not is_test_path(rel)}
    stems.discard("__init__")

    def related(test_id: str) -> bool:
        path = test_id.split("::")[0]
        return path in touched or any(Path(path).stem in (f"test_{s}", f"{s}_test") for s in stems)

    return [t for t in tests if related(t)] or tests


def test_source(ctx: PhaseContext, test_id: str) -> str:
    """The source of one test function (file::name), or '' when it cannot be found."""
    path, _, name = test_id.partition("::")
    name = name.split("[")[0].split("::")[-1]
    if not ctx.workspace.exists(path):
        return ""
    text = ctx.workspace.read(path)
    match = re.search(rf"^(?:async )?def {re.escape(name)}\(.*?(?=^\S|\Z)", text, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else ""


def subject_names(ctx: PhaseContext, requirement: str, scenario: str) -> set[str]:
    """Identifiers the change defines that a requirement or its scenario mentions (e.g. `slugify`)."""
    words = set(re.findall(r"[A-Za-z_]\w+", f"{requirement} {scenario} {ctx.request}"))
    defined: set[str] = set()
    for rel in changed_files(ctx):
        if rel.endswith(".py") and not is_test_path(rel) and ctx.workspace.exists(rel):
            defined |= set(re.findall(r"^(?:async )?(?:def|class) (\w+)", ctx.workspace.read(rel), re.MULTILINE))
    return words & defined


def is_test_path(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py")


def plausible(ctx: PhaseContext, test_id: str, subjects: set[str]) -> bool:
    """A linked test must at least mention what the requirement is about; otherwise it is UNTESTED."""
    if not subjects:
        return True
    body = test_source(ctx, test_id)
    return any(re.search(rf"\b{re.escape(name)}\b", body) for name in subjects)


def verdict_for(
    results: list[CommandResult], done: int, total: int, matrix: list[ComplianceRow], require_coverage: bool = False
) -> str:
    if not results or any(not r.ok for r in results) or done < total:
        return "FAIL"
    if require_coverage and matrix and not any(row.result == "COMPLIANT" for row in matrix):
        return "FAIL"  # new behaviour with no passing test behind any scenario is not verified
    if any(row.result != "COMPLIANT" for row in matrix):
        return "PASS WITH WARNINGS"
    return "PASS"


async def run(ctx: PhaseContext) -> dict[str, Any]:
    commands = verify_commands(ctx)
    results = [await ctx.workspace.run(with_outcomes(c), ctx.settings.command_timeout_s) for c in commands]
    outcomes = test_outcomes(results)
    scenarios = await ctx.io(list_scenarios, ctx.paths.dir)
    plan = ctx.result(tasks.PHASE)
    changed = [*changed_files(ctx), *(t.file for t in (plan.tasks if plan else []))]
    links = await link_scenarios(ctx, scenarios, candidate_tests(changed, sorted(outcomes)))
    matrix = []
    for cap, req, scenario in scenarios:
        test = links.get(scenario)
        if test and not await ctx.io(plausible, ctx, test, await ctx.io(subject_names, ctx, req, scenario)):
            test = None
        result = "UNTESTED" if not test else ("COMPLIANT" if outcomes.get(test) == "PASSED" else "FAILING")
        matrix.append(ComplianceRow(capability=cap, requirement=req, scenario=scenario, test=test, result=result))
    tasks_md = ctx.paths.dir / "tasks.md"
    done, total = ticked_tasks(tasks_md.read_text(encoding="utf-8")) if tasks_md.is_file() else (0, 0)
    issues = [
        f"CRITICAL: `{r.command}` exited {r.exit_code if not r.timed_out else 'on timeout'}"
        for r in results
        if not r.ok
    ]
    issues += [f"CRITICAL: only {done}/{total} tasks complete"] if done < total else []
    issues += [f"WARNING: scenario '{row.scenario}' is {row.result}" for row in matrix if row.result != "COMPLIANT"]
    issues += ["CRITICAL: no verify command configured or detected"] if not results else []
    if matrix and not any(row.result == "COMPLIANT" for row in matrix):
        level = "CRITICAL" if ctx.settings.require_coverage else "WARNING"
        issues.append(
            f"{level}: no scenario is covered by a passing test that exercises it — add tests for: "
            + "; ".join(dict.fromkeys(row.requirement for row in matrix))
        )
    report = VerifyReport(
        verdict=verdict_for(results, done, total, matrix, ctx.settings.require_coverage),
        tasks_done=done,
        tasks_total=total,
        commands=[r.model_dump() for r in results],
        matrix=matrix,
        failing_tests=[t for t, o in outcomes.items() if o == "FAILED"],
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
