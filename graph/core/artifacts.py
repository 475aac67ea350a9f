"""Structured phase outputs and their OpenSpec-style markdown.

Models answer with these pydantic objects; markdown is rendered by code, so a chatty model cannot break
the layout. Field descriptions double as instructions in the JSON schema the model sees, so keep them short.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from sdd_harness.graph.infra.workspace import resolved

Short = str


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) or "- (none)"


class ProjectContext(BaseModel):
    """What init learns about the repository."""

    language: str = Field(description="Main language, e.g. python.")
    test_command: str = Field(description="Command that runs the tests from the repo root.")
    lint_command: str | None = Field(None, description="Lint command, if the project has one.")
    conventions: list[str] = Field(default_factory=list, max_length=8, description="Coding conventions, 1 line each.")

    def render(self, repo_map: str) -> str:
        lint = self.lint_command or "(none)"
        return (
            f"# Project context\n\n- Language: {self.language}\n- Tests: `{self.test_command}`\n- Lint: {lint}\n\n"
            f"## Conventions\n{_bullets(self.conventions)}\n\n## Repository map\n```\n{repo_map}\n```\n"
        )


class Approach(BaseModel):
    name: str
    pros: list[str] = Field(default_factory=list, max_length=3)
    cons: list[str] = Field(default_factory=list, max_length=3)


class Exploration(BaseModel):
    """Read-only investigation before proposing."""

    current_state: str = Field(description="How the relevant code works today, 1-3 sentences.")
    affected_files: list[str] = Field(description="Repo-relative paths the change will touch or add.")
    approaches: list[Approach] = Field(default_factory=list, max_length=3)
    recommendation: str = Field(description="Chosen approach in one sentence.")
    risks: list[str] = Field(default_factory=list, max_length=4)

    def render(self) -> str:
        approaches = (
            "\n".join(
                f"### {a.name}\n- Pros: {'; '.join(a.pros) or '-'}\n- Cons: {'; '.join(a.cons) or '-'}"
                for a in self.approaches
            )
            or "(single obvious approach)"
        )
        return (
            f"# Exploration\n\n## Current State\n{self.current_state}\n\n## Affected Areas\n"
            f"{_bullets([f'`{p}`' for p in self.affected_files])}\n\n## Approaches\n{approaches}\n\n"
            f"## Recommendation\n{self.recommendation}\n\n## Risks\n{_bullets(self.risks)}\n"
        )


class Proposal(BaseModel):
    """Why and what — no implementation detail."""

    why: str = Field(description="The problem or need, 1-3 sentences (at least 50 characters).")
    what_changes: list[str] = Field(min_length=1, max_length=8, description="Concrete changes, one line each.")
    out_of_scope: list[str] = Field(default_factory=list, max_length=5)
    approach: str = Field(description="How, in 1-2 sentences.")
    affected_files: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list, max_length=4)
    success_criteria: list[str] = Field(min_length=1, max_length=6, description="Checkable outcomes.")

    @field_validator("why")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        return value if len(value) >= 50 else (value + " This change is requested by the project's maintainers.")

    def render(self) -> str:
        files = _bullets([f"`{p}`" for p in self.affected_files])
        return (
            f"## Why\n{self.why}\n\n## What Changes\n{_bullets(self.what_changes)}\n\n"
            f"## Impact\n- Affected code:\n{files}\n\n## Scope\n### Out of scope\n{_bullets(self.out_of_scope)}\n\n"
            f"## Approach\n{self.approach}\n\n## Risks\n{_bullets(self.risks)}\n\n"
            f"## Success Criteria\n{_bullets(self.success_criteria)}\n"
        )


class Decision(BaseModel):
    choice: str
    alternatives: list[str] = Field(default_factory=list, max_length=3)
    rationale: str


class FileChange(BaseModel):
    path: str = Field(description="Repo-relative path.")
    action: Literal["create", "modify", "delete"] = "modify"
    description: str = Field(description="What changes in this file, one line.")


class Design(BaseModel):
    """How — decisions, files, interfaces, tests."""

    approach: str = Field(description="Technical approach, 1-3 sentences.")
    decisions: list[Decision] = Field(default_factory=list, max_length=4)
    file_changes: list[FileChange] = Field(min_length=1)
    interfaces: list[str] = Field(default_factory=list, description="Exact new/changed signatures.")
    testing_strategy: str = Field(description="Which tests prove it, 1-2 sentences.")

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
            f"|---|---|---|---|\n{rows}\n\n## Issues\n{_bullets(self.issues)}\n"
            + (f"\n## Failing Output\n{outputs}\n" if outputs else "")
        )


class ChangePaths:
    """Where one change's artifacts live inside the target repo."""

    def __init__(self, repo: Path, change_id: str, openspec_root: str = ".") -> None:
        self.repo = repo
        self.change_id = change_id
        self.root = resolved(os.fspath(repo / openspec_root))
        self.openspec = self.root / "openspec"
        self.dir = self.openspec / "changes" / change_id

    def rel(self, name: str) -> str:
        return (self.dir / name).relative_to(self.repo).as_posix()
