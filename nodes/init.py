"""sdd-init: detect the stack, the test command and conventions; name the change; run the tests once.

The test command comes from the repository (``testrun.detect_test_command``) or the config, never from the
model: a model's guess once made every later phase chase a ModuleNotFoundError. The model may propose one only
when nothing is detected, and only an allow-listed test runner invocation is accepted. The command then runs
once on the untouched repository, so a command that cannot run stops the change here, with its output.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import INIT
from sdd_harness.graph.infra.markdown import bullets
from sdd_harness.graph.infra.repomap import repo_map
from sdd_harness.graph.infra.testrun import (
    DetectedCommand,
    allowed_test_command,
    detect_test_command,
    is_pytest,
    run_pytest,
)

ARTIFACT = "project.md"


class ProjectAnswer(BaseModel):
    """What the model says about the repository."""

    language: str = Field(description="Main language, e.g. python.")
    test_command: str = Field("", description="Only if none was detected: the command that runs the tests.")
    lint_command: str | None = Field(None, description="Lint command, if the project has one.")
    conventions: list[str] = Field(default_factory=list, max_length=8, description="Coding conventions, 1 line each.")


class Baseline(BaseModel):
    """The test command's run on the untouched repository."""

    exit_code: int | None = None
    passed: int = 0
    failed: int = 0
    seconds: float = 0.0
    problem: str = ""


class ProjectContext(ProjectAnswer):
    """What init knows about the repository: the model's answer, the test command and where it came from."""

    test_command_source: str = ""
    baseline: Baseline = Field(default_factory=Baseline)

    def render(self, repo_map: str) -> str:
        lint = self.lint_command or "(none)"
        base = self.baseline
        run = (
            f"{base.passed} passed, {base.failed} failed in {base.seconds:.1f}s" if base.exit_code is not None else "-"
        )
        return (
            f"# Project context\n\n- Language: {self.language}\n- Tests: `{self.test_command}` "
            f"({self.test_command_source or 'none'}; before the change: {run})\n- Lint: {lint}\n\n"
            f"## Conventions\n{bullets(self.conventions)}\n\n## Repository map\n```\n{repo_map}\n```\n"
        )


def choose_test_command(
    detected: DetectedCommand | None, proposed: str, configured: list[str] | None
) -> tuple[str, str]:
    """(command, where it came from): the config's, else the detected one, else an allow-listed proposal."""
    if configured:
        return configured[0], "from run.verify_commands"
    if detected:
        return detected.command, f"detected: {detected.why}"
    proposed = " ".join(proposed.split())
    if proposed and allowed_test_command(proposed):
        return proposed, "proposed by the model; an allow-listed test runner"
    if proposed:
        return "", f"the model proposed `{proposed[:120]}`, which is not an allowed test runner invocation"
    return "", "nothing in the repository says how its tests run"


async def baseline(ctx: PhaseContext, command: str) -> Baseline:
    """Run the test command once on the untouched repository: a command that cannot run is named now."""
    if not command:
        return Baseline(problem="no test command")
    if is_pytest(command):
        run = await run_pytest(ctx.workspace, [], ctx.settings.command_timeout_s, base=command)
        outcomes = run.outcomes.values()
        problem = run.collection_error
        if run.result.exit_code not in (0, 1, 5) and not problem:
            problem = f"`{command}` exited {run.result.exit_code}: {run.result.output.strip()[-300:]}"
        return Baseline(
            exit_code=run.result.exit_code,
            passed=sum(1 for o in outcomes if o.status == "passed"),
            failed=sum(1 for o in outcomes if o.status in ("failed", "error")),
            seconds=run.result.seconds,
            problem=problem,
        )
    result = await ctx.workspace.run(command, ctx.settings.command_timeout_s)
    problem = (
        ""
        if result.exit_code is not None and not result.timed_out
        else f"`{command}` did not run: {result.output[-300:]}"
    )
    return Baseline(exit_code=result.exit_code, seconds=result.seconds, problem=problem)


def change_slug(request: str, openspec_dir: Path) -> str:
    """A short, unique, kebab-case change id from the request's first words."""
    words = re.findall(r"[a-z0-9]+", request.lower().split("\n")[0])[:5] or ["change"]
    slug = "-".join(words)[:48].strip("-") or "change"
    changes = openspec_dir / "changes"
    candidate, n = slug, 2
    while (changes / candidate).exists() or any((changes / "archive").glob(f"*-{candidate}")):
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def gather(root: Path, request: str, openspec_dir: Path, needs_id: bool) -> tuple[DetectedCommand | None, str, str]:
    """What init reads before asking, in one trip off the event loop: detected tests, map, a free change id."""
    slug = change_slug(request, openspec_dir) if needs_id else ""
    return detect_test_command(root), repo_map(root, 1200, request), slug


async def run(ctx: PhaseContext) -> dict[str, Any]:
    root = ctx.workspace.root
    detected, rmap, slug = await ctx.io(gather, root, ctx.request, ctx.paths.openspec, not ctx.state.get("change_id"))
    change_id = ctx.state.get("change_id") or slug
    tests = f"Detected test command: `{detected.command}` ({detected.why})" if detected else "No test command detected."
    user = (
        f"{tests}\n\nRepository map:\n{rmap}\n\n"
        "Give the language and lint command; a test_command only if none was detected; up to 5 conventions."
    )
    answer = await ctx.ask(ProjectAnswer, user)
    command, source = choose_test_command(detected, answer.test_command, ctx.settings.verify_commands)
    language = detected.language if detected else answer.language
    project = ProjectContext(
        **{**answer.model_dump(), "language": language, "test_command": command},
        test_command_source=source,
        baseline=await baseline(ctx, command),
    )
    ctx.state["change_id"] = change_id
    rel = ctx.workspace.rel(ctx.paths.openspec / ARTIFACT)
    await ctx.io(ctx.workspace.write, rel, project.render(rmap))
    return {"change_id": change_id, "outputs": {INIT: project.model_dump()}, "artifacts": {INIT: rel}}


def check(ctx: GateContext) -> list[str]:
    project = ctx.result(PHASE)
    problems = []
    if not (project and project.test_command) and not ctx.settings.verify_commands:
        why = project.test_command_source if project else "no project context"
        problems.append(f"no test command: {why}; set run.verify_commands in the config")
    elif project and project.baseline.problem:
        problems.append(f"the test command does not run on the unchanged repository: {project.baseline.problem}")
    if not ctx.state.get("change_id"):
        problems.append("no change id")
    return problems


PHASE = Phase(name=INIT, run=run, check=check, output=ProjectContext)
