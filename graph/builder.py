"""Assemble the SDD graph from a config: one node per phase, one orchestrator, edges drawn for Studio.

A thin factory: everything phase-specific lives in ``nodes/``; everything shared in ``graph/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import END, START, StateGraph

from graph.config import HarnessConfig, load_config
from graph.context import Context
from graph.harness import Harness, phase_node
from graph.models import ModelOverride, ModelRegistry
from graph.phases import BUILTIN_PHASES, ORCHESTRATOR
from graph.state import InputState, SDDState
from nodes.orchestrator import make_orchestrator

PHASE_MODULES: dict[str, str] = {phase: f"nodes.{phase.removeprefix('sdd-')}" for phase in BUILTIN_PHASES}


def phase_module(phase: str) -> ModuleType:
    return importlib.import_module(PHASE_MODULES[phase])


def route(state: SDDState) -> str:
    """Where the orchestrator sent the run (its decision is already in state)."""
    return state.get("next_phase") or END


def make_harness(
    config: HarnessConfig | str | Path,
    models: Mapping[str, ModelOverride] | None = None,
    prompt_dir: str | Path | None = None,
) -> Harness:
    cfg = config if isinstance(config, HarnessConfig) else load_config(config)
    return Harness(cfg, ModelRegistry(cfg, models), Path(prompt_dir) if prompt_dir else None)


def build_graph(
    config: HarnessConfig | str | Path | Harness,
    *,
    models: Mapping[str, ModelOverride] | None = None,
    checkpointer: Any = None,
    prompt_dir: str | Path | None = None,
) -> Any:
    """Compile the graph. ``models`` maps a role (phase or 'orchestrator') to a chat model or model name."""
    harness = config if isinstance(config, Harness) else make_harness(config, models, prompt_dir)
    order = list(BUILTIN_PHASES)
    builder = StateGraph(SDDState, context_schema=Context, input_schema=InputState)
    checks = {}
    for phase in order:
        module = phase_module(phase)
        builder.add_node(phase, phase_node(harness, phase, module.run))
        builder.add_edge(phase, ORCHESTRATOR)
        checks[phase] = module.check
    builder.add_node(ORCHESTRATOR, make_orchestrator(harness, order, checks))
    builder.add_edge(START, order[0])
    builder.add_conditional_edges(ORCHESTRATOR, route, [*order, END])
    graph = builder.compile(checkpointer=checkpointer, name="sdd")
    graph.harness = harness  # type: ignore[attr-defined]
    return graph
