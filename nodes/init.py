"""sdd-init: detect the stack, test command and conventions; name the change."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import INIT
from sdd_harness.graph.infra.markdown import bullets
from sdd_harness.graph.infra.repomap import repo_map

ARTIFACT = "project.md"


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
            f"## Conventions\n{bullets(self.conventions)}\n\n## Repository map\n```\n{repo_map}\n```\n"
        )


def detect_stack(root: Path) -> dict[str, str | None]:
    """Deterministic defaults the model only refines: cheaper and never wrong about what exists."""
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8") if (root / "pyproject.toml").is_file() else ""
    if pyproject or (root / "setup.py").is_file() or any(root.glob("*.py")):
        lint = "ruff check ." if "[tool.ruff" in pyproject else None
        return {"language": "python", "test_command": "python -m pytest -q", "lint_command": lint}
    if (root / "package.json").is_file():
        return {"language": "javascript", "test_command": "npm test --silent", "lint_command": None}
    return {"language": "unknown", "test_command": "", "lint_command": None}


def change_slug(request: str, openspec_dir: Path) -> str:
    """A short, unique, kebab-case change id from the request's first words."""
    words = re.findall(r"[a-z0-9]+", request.lower().split("\n")[0])[:5] or ["change"]
    slug = "-".join(words)[:48].strip("-") or "change"
    changes = openspec_dir / "changes"
    candidate, n = slug, 2
    while (changes / candidate).exists() or any((changes / "archive").glob(f"*-{candidate}")):
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def gather(root: Path, request: str, openspec_dir: Path, needs_id: bool) -> tuple[dict[str, str | None], str, str]:
    """What init reads before asking, in one trip off the event loop: detected stack, map, a free change id."""
    return detect_stack(root), repo_map(root, 1200, request), change_slug(request, openspec_dir) if needs_id else ""


async def run(ctx: PhaseContext) -> dict[str, Any]:
    root = ctx.workspace.root
    detected, rmap, slug = await ctx.io(gather, root, ctx.request, ctx.paths.openspec, not ctx.state.get("change_id"))
    change_id = ctx.state.get("change_id") or slug
    user = (
        f"Detected: {detected}\n\nRepository map:\n{rmap}\n\n"
        "Confirm or correct language, test_command and lint_command; list up to 5 conventions you can see."
    )
    project = await ctx.ask(ProjectContext, user)
    if detected["test_command"] and not project.test_command.strip():
        project.test_command = str(detected["test_command"])
    ctx.state["change_id"] = change_id
    rel = ctx.workspace.rel(ctx.paths.openspec / ARTIFACT)
    await ctx.io(ctx.workspace.write, rel, project.render(rmap))
    return {"change_id": change_id, "outputs": {INIT: project.model_dump()}, "artifacts": {INIT: rel}}


def check(ctx: GateContext) -> list[str]:
    project = ctx.result(PHASE)
    problems = []
    if not (project and project.test_command) and not ctx.settings.verify_commands:
        problems.append("no test command detected; set run.verify_commands in the config")
    if not ctx.state.get("change_id"):
        problems.append("no change id")
    return problems


PHASE = Phase(name=INIT, run=run, check=check, output=ProjectContext)
