"""The one-shot baseline: the config's sdd-apply model makes the whole change in a single answer.

No phases, no gates, no loops: the change request, the repo map and the relevant files go into one prompt.
The answer uses the same edit format as apply — ``### path`` + a fenced block per file, Python merged by
definition name (``pyedit``) — so a comparison measures the pipeline, not the edit format. Calls are recorded
by the same ``CallRecorder`` the pipeline uses, so tokens, cost and time compare like for like.

    from sdd_harness.graph.entry.oneshot import arun_one_shot
    result = await arun_one_shot("Add split_cents() to money/amounts.py ...", repo="work/copy", config="local")
    print(result.status, result.changed, result.refusals, result.totals)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from sdd_harness.graph.core.config import HarnessConfig, load_config
from sdd_harness.graph.core.models import ModelOverride, ModelRegistry
from sdd_harness.graph.core.phases import APPLY
from sdd_harness.graph.infra.oneshot_prompt import MAX_FILES, PROMPT, build_prompt, files_for, mentioned_files
from sdd_harness.graph.infra.pyedit import FileBlock, merge_python, read_blocks
from sdd_harness.graph.infra.workspace import Edit, Workspace, WorkspaceError

PHASE = "one-shot"

OneShotStatus = Literal["applied", "partial", "refused", "invalid-output"]


class OneShotResult(BaseModel):
    """What the baseline did: edits applied and refused, calls recorded (same shape as the pipeline's)."""

    status: OneShotStatus
    reason: str = ""
    changed: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list)
    files_shown: list[str] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)
    totals: dict[str, float] = Field(default_factory=dict)
    phases: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0


def apply_blocks(workspace: Workspace, blocks: list[FileBlock]) -> tuple[list[str], list[str]]:
    """Merge and write each file's block on its own, so a refused block costs only itself.

    Returns (changed files, refusals)."""
    changed: list[str] = []
    refusals: list[str] = []
    for block in blocks:
        try:
            current = workspace.read(block.path) if workspace.exists(block.path) else None
            text = block.code
            if block.path.endswith(".py"):
                merged = merge_python(current, block.code)
                if merged.problems:
                    refusals.append(f"{block.path}: {'; '.join(merged.problems)}")
                    continue
                text = merged.text
            op = "create" if current is None else "replace_file"
            changed += workspace.apply([Edit(op=op, path=block.path, content=text)])
        except WorkspaceError as err:
            refusals.append(f"{block.path}: {err}")
    return list(dict.fromkeys(changed)), refusals


async def arun_one_shot(
    request: str,
    repo: str | Path,
    config: HarnessConfig | str | Path = "local",
    *,
    models: Mapping[str, ModelOverride] | None = None,
    prompt_dir: str | Path | None = None,
    role: str = APPLY,
    max_files: int = MAX_FILES,
    stop_embedded: bool = True,
) -> OneShotResult:
    """Make the change with one call to ``role``'s model (default: the config's sdd-apply binding).

    Invalid output and refused edits are results, not errors; network/provider failures propagate.
    Embedded llama.cpp servers are stopped afterwards, like ``arun_change`` does (``stop_embedded``).
    """
    import asyncio

    from sdd_harness.graph.core.phase import Harness
    from sdd_harness.graph.core.report import phase_rows
    from sdd_harness.graph.core.usage import CallRecorder, Pricer, totals

    cfg = config if isinstance(config, HarnessConfig) else load_config(config)
    root = Path(repo).resolve()
    workspace = Workspace(root, max_file_bytes=cfg.run.max_file_bytes, secret_names=cfg.api_key_env_names())
    registry = ModelRegistry(cfg, models)
    harness = Harness(cfg, registry, Path(prompt_dir) if prompt_dir else None)
    recorder = CallRecorder(PHASE, Pricer(cfg), registry.lookup)
    started = time.perf_counter()
    try:
        user, shown = await asyncio.to_thread(build_prompt, root, request, max_files)
        rules = "\n".join(f"- {rule}" for rule in harness.verbosity(role))
        system = f"{harness.prompt(PROMPT).strip()}\n\n## Output rules\n{rules}\n"
        reply = await registry.runnable(role).ainvoke(
            [SystemMessage(system), HumanMessage(user)], config={"callbacks": [recorder]}
        )
        blocks, problems = read_blocks(str(reply.content), shown)
        if not blocks:
            status, reason, changed, refusals = "invalid-output", "; ".join(problems), [], []
        else:
            changed, refusals = await asyncio.to_thread(apply_blocks, workspace, blocks)
            refusals = problems + refusals
            status = "applied" if not refusals else ("partial" if changed else "refused")
            reason = f"{len(changed)} file(s) changed, {len(refusals)} block(s) refused"
    finally:
        if stop_embedded and cfg.provider_of(registry.binding(role)).embedded:
            from sdd_harness.graph.infra.embedded import get_servers

            get_servers().stop_all()
    calls = [r.model_dump() for r in recorder.records]
    seconds = round(time.perf_counter() - started, 3)
    return OneShotResult(
        status=status,
        reason=reason,
        changed=changed,
        refusals=refusals,
        files_shown=shown,
        calls=calls,
        totals=totals(calls),
        phases=phase_rows(calls, {PHASE: seconds}),
        seconds=seconds,
    )


def run_one_shot(request: str, repo: str | Path, config: HarnessConfig | str | Path = "local", **kwargs: Any):
    """Synchronous ``arun_one_shot``."""
    import asyncio

    return asyncio.run(arun_one_shot(request, repo, config, **kwargs))


__all__ = ["OneShotResult", "arun_one_shot", "build_prompt", "files_for", "mentioned_files", "run_one_shot"]
