"""sdd-explore: read the relevant code (and existing specs) before anything is proposed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from sdd_harness.graph.core.actions import (
    JSON_PROTOCOL,
    NATIVE_PROTOCOL,
    OBSERVATION_CHARS,
    ActionStep,
    Finding,
    look_around,
)
from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import EXPLORE
from sdd_harness.graph.infra.markdown import bullets
from sdd_harness.graph.infra.openspec import existing_specs
from sdd_harness.graph.infra.repomap import mentioned_paths, relevant_files, repo_map, slice_file

ARTIFACT = "exploration.md"
DEFAULT_TOOL_STEPS = 2
CODE_CHARS = 1800  # per file shown inline


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
            f"{bullets([f'`{p}`' for p in self.affected_files])}\n\n## Approaches\n{approaches}\n\n"
            f"## Recommendation\n{self.recommendation}\n\n## Risks\n{bullets(self.risks)}\n"
        )


def code_blocks(root: Path, files: list[str], per_file: int = CODE_CHARS) -> dict[str, str]:
    """Each file as a fenced block, cut to a budget (file -> block)."""
    return {rel: _block(rel, (root / rel).read_text(encoding="utf-8", errors="replace"), per_file) for rel in files}


def _block(title: str, text: str, per_file: int = CODE_CHARS) -> str:
    return f"### {title}\n```\n{slice_file(text, per_file)}\n```"


def files_to_show(root: Path, request: str, with_tools: bool, ranked: list[str]) -> list[str]:
    """With tools the ranked map already outlines the relevant files: show only those the request names."""
    named = [rel for rel in mentioned_paths(root, request) if (root / rel).is_file()]
    if with_tools:
        return named[:3]
    return list(dict.fromkeys([*named, *ranked]))[:3]


def with_known_files(exploration: Exploration, root: Path, request: str) -> Exploration:
    """Small models often list no files, or miss the ones the request names: add them deterministically."""
    files = list(dict.fromkeys([*exploration.affected_files, *mentioned_paths(root, request)]))
    if not files:
        files = relevant_files(root, request, limit=3)
    return exploration.model_copy(update={"affected_files": files})


class Gathered(NamedTuple):
    """What explore reads before asking."""

    rmap: str
    ranked: list[str]  # files most related to the request, best first
    shown: dict[str, str]  # file -> code block (cut to CODE_CHARS)
    whole: list[str]  # shown files that fit their block uncut
    specs: str


def gather(root: Path, request: str, openspec_dir: Path, with_tools: bool) -> Gathered:
    """Everything explore reads before asking, in one trip off the event loop; the repo is ranked once."""
    ranked = relevant_files(root, request, limit=6)
    files = files_to_show(root, request, with_tools, ranked)
    whole = [rel for rel in files if (root / rel).stat().st_size <= CODE_CHARS]
    rmap = repo_map(root, 1500, request, ranked)
    return Gathered(rmap, ranked, code_blocks(root, files), whole, existing_specs(openspec_dir))


async def run(ctx: PhaseContext) -> dict[str, Any]:
    root = ctx.workspace.root
    steps = ctx.harness.registry.binding(EXPLORE).tool_steps if ctx.harness else None
    steps = DEFAULT_TOOL_STEPS if steps is None else steps
    rmap, ranked, shown, whole, specs = await ctx.io(gather, root, ctx.request, ctx.paths.openspec, steps > 0)
    looked: list[dict[str, str]] = []
    if steps == 0:
        code = "\n\n".join(shown.values())
        user = f"{_request(ctx)}\n\nRepository map:\n{rmap}\n\nRelevant code:\n{code or '(none)'}\n\n{_specs(specs)}"
    else:
        looked, findings = await look(ctx, rmap, specs, list(shown), whole, steps)
        found = {f.title: _block(f.title, f.text, OBSERVATION_CHARS) for f in findings}  # as the tool showed it
        blocks = {**shown, **found}
        others = [rel for rel in ranked if rel not in blocks]
        code = "\n\n".join(blocks.values())
        user = (
            f"{_request(ctx)}\n\nOther files related to the request: {', '.join(others) or '(none)'}\n\n"
            f"Relevant code:\n{code or '(none)'}\n\n{_specs(specs)}"
        )
    exploration = await ctx.ask(Exploration, user)
    exploration = await ctx.io(with_known_files, exploration, root, ctx.request)
    rel = await ctx.write_artifact(ARTIFACT, exploration.render())
    output = {**exploration.model_dump(), "tool_steps": looked}
    return {"outputs": {EXPLORE: output}, "artifacts": {EXPLORE: rel}}


def _request(ctx: PhaseContext) -> str:
    return f"Change request:\n{ctx.request}"


def _specs(specs: str) -> str:
    return f"Existing specs (capability: requirements):\n{specs or '(none)'}"


def look_system_prompt(prompt: str) -> str:
    """The prompt's opening paragraph (the role) without the answer's rules: every look-around step re-sends it."""
    role = prompt.strip().split("\n\n", 1)[0]
    return f"{role}\nFind the code the change request touches; the answer is asked for afterwards."


async def look(
    ctx: PhaseContext, rmap: str, specs: str, shown: list[str], whole: list[str], steps: int
) -> tuple[list[dict[str, str]], list[Finding]]:
    """Bounded look-around over the map with read-only tools (JSON actions or native tool calls).

    The files the request names (``shown``) are not in this prompt: each step re-sends it, and the answer step
    shows them next to whatever the look-around found. Reading one that fits whole (``whole``) gets a pointer.
    """
    mode = ctx.tools_mode()
    protocol = JSON_PROTOCOL if mode == "json" else NATIVE_PROTOCOL
    named = f"Shown to you in full when you answer: {', '.join(shown)}.\n\n" if shown else ""
    user = f"{_request(ctx)}\n\nRepository map:\n{rmap}\n\n{_specs(specs)}\n\n{named}{protocol}"
    assert ctx.harness is not None and ctx.recorder is not None
    return await look_around(
        ask_step=lambda conv: ctx.ask_messages(ActionStep, conv, repairs=1),
        workspace=ctx.workspace,
        messages=[SystemMessage(look_system_prompt(ctx.harness.prompt(EXPLORE))), HumanMessage(user)],
        mode="native" if mode == "native" else "json",
        max_steps=steps,
        model=ctx.harness.registry.runnable(EXPLORE),
        config={"callbacks": [ctx.recorder]},
        shown=whole,
    )


def check(ctx: GateContext) -> list[str]:
    exploration = ctx.result(PHASE)
    files = exploration.affected_files if exploration else []
    if not files:
        return ["exploration lists no affected files"]
    problems = []
    for rel in files:
        try:
            target = ctx.workspace.resolve(rel)
        except Exception as err:  # noqa: BLE001 - any refusal is a gate problem
            problems.append(str(err))
            continue
        if not target.exists() and not target.parent.exists():
            problems.append(f"affected file {rel!r} does not exist and neither does its folder (hallucinated path?)")
    return problems


def brief(exploration: Exploration) -> str:
    """What later phases see of the exploration."""
    return (
        f"Current state: {exploration.current_state}\nAffected files: {', '.join(exploration.affected_files)}\n"
        f"Recommendation: {exploration.recommendation}\nRisks: {'; '.join(exploration.risks)}"
    )


PHASE = Phase(name=EXPLORE, run=run, check=check, output=Exploration, artifact=ARTIFACT, brief=brief)
