"""Assemble the SDD graph from a config: one node per phase, one orchestrator, edges drawn for Studio.

A thin factory: everything phase-specific lives in ``nodes/``; everything shared in ``graph/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from sdd_harness.graph.core.config import ConfigError, HarnessConfig, load_config
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.harness import GateContext, Harness, phase_node
from sdd_harness.graph.core.models import ModelOverride, ModelRegistry
from sdd_harness.graph.core.order import phase_groups
from sdd_harness.graph.core.phases import APPLY, BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.core.state import InputState, SDDState
from sdd_harness.nodes.apply import ready_batch
from sdd_harness.nodes.orchestrator import make_orchestrator

PHASE_MODULES: dict[str, str] = {phase: f"sdd_harness.nodes.{phase.removeprefix('sdd-')}" for phase in BUILTIN_PHASES}


def phase_module(phase: str, config: HarnessConfig | None = None) -> ModuleType:
    """The module implementing a phase: built-in, or the custom phase's `module:` from the config."""
    spec = config.phases.get(phase) if config else None
    name = spec.module if spec and spec.module else PHASE_MODULES[phase]
    try:
        module = importlib.import_module(name)
    except ImportError as err:
        file = config.source_file if config else "<config>"
        raise ConfigError(file, f"phases.{phase}.module", name, f"cannot import it: {err}") from None
    if not callable(getattr(module, "run", None)):
        file = config.source_file if config else "<config>"
        raise ConfigError(file, f"phases.{phase}.module", name, "the module must define `async def run(ctx)`")
    return module


def default_check(phase: str, artifact: str | None) -> Callable[[GateContext], list[str]]:
    """Custom phases without check(): the artifact they promise must exist."""

    def check(ctx: GateContext) -> list[str]:
        if artifact and not (ctx.paths.dir / artifact).is_file():
            return [f"{phase} did not write {artifact}"]
        return []

    return check


def route(state: SDDState) -> list[str] | list[Send]:
    """Where the orchestrator sent the run: one phase, a parallel group, or apply fanned out per task."""
    nxt = state.get("next_phase") or END
    if nxt == APPLY and not (state.get("feedback") or {}).get(APPLY):
        decisions = state.get("decisions") or []
        continuing = bool(decisions) and decisions[-1]["action"] == "continue"
        batch = ready_batch(state, retry_failed=not continuing)
        if batch:
            return [Send(APPLY, {**state, "apply_task": index}) for index in batch]
    group = state.get("next_phases") or []
    return group if nxt in group else [nxt]


def make_harness(
    config: HarnessConfig | str | Path,
    models: Mapping[str, ModelOverride] | None = None,
    prompt_dir: str | Path | None = None,
) -> Harness:
    cfg = config if isinstance(config, HarnessConfig) else load_config(config)
    folder = prompt_dir or cfg.prompt_dir
    if folder and not Path(folder).is_absolute() and cfg.source_file != "<memory>":
        folder = Path(cfg.source_file).parent / folder
    return Harness(cfg, ModelRegistry(cfg, models), Path(folder) if folder else None)


def build_graph(
    config: HarnessConfig | str | Path | Harness,
    *,
    models: Mapping[str, ModelOverride] | None = None,
    checkpointer: Any = None,
    prompt_dir: str | Path | None = None,
    profile: str | None = None,
) -> Any:
    """Compile the graph. ``models`` maps a role (phase or 'orchestrator') to a chat model or model name."""
    harness = config if isinstance(config, Harness) else make_harness(config, models, prompt_dir)
    cfg = harness.config
    groups = phase_groups(cfg, profile)
    order = [phase for group in groups for phase in group]
    builder = StateGraph(SDDState, context_schema=Context, input_schema=InputState)
    checks = {}
    # input_schema given, not inferred: inference re-evaluates SDDState's type hints for every node at compile
    for phase in order:
        module = phase_module(phase, cfg)
        builder.add_node(phase, phase_node(harness, phase, module.run), input_schema=SDDState)
        builder.add_edge(phase, ORCHESTRATOR)
        checks[phase] = getattr(module, "check", None) or default_check(phase, cfg.phases[phase].artifact)
    on_fail = {name: spec.on_fail for name, spec in cfg.phases.items()}
    builder.add_node(ORCHESTRATOR, make_orchestrator(harness, groups, checks, on_fail), input_schema=SDDState)
    builder.add_edge(START, order[0])
    builder.add_conditional_edges(ORCHESTRATOR, route, [*order, END])
    graph = builder.compile(checkpointer=checkpointer, name="sdd")
    graph.harness = harness  # type: ignore[attr-defined]
    return graph
