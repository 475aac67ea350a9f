"""Assemble the SDD graph from a config: one node per declared phase, one orchestrator that routes by Command.

A thin factory. Phases are declarations (``PHASE = Phase(...)``) found by module name — the built-ins in
``nodes/``, custom ones from the config's ``module:`` — so this module imports no phase; what is special
about a phase (apply's fan-out) travels in its declaration.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import END, START, StateGraph

from sdd_harness.graph.core.config import ConfigError, HarnessConfig, load_config
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.models import ModelOverride, ModelRegistry
from sdd_harness.graph.core.order import phase_groups
from sdd_harness.graph.core.phase import (
    GateCheck,
    GateContext,
    GraphNode,
    Harness,
    Phase,
    phase_node,
)
from sdd_harness.graph.core.phases import BUILTIN_MODULES, ORCHESTRATOR, ORCHESTRATOR_MODULE
from sdd_harness.graph.core.state import InputState, SDDState


class PhaseLoadError(Exception):
    """A phase module that cannot be used; ``where`` is the import name, ``why`` says what is wrong."""

    def __init__(self, where: str, why: str) -> None:
        self.where, self.why = where, why
        super().__init__(f"{where}: {why}")


def load_phase(module_name: str, name: str) -> Phase[Any]:
    """The declaration a module exports as ``PHASE`` (or, for older extensions, built from ``run``/``check``)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PhaseLoadError(module_name, f"cannot import it: {err}") from None
    declared = getattr(module, "PHASE", None)
    if isinstance(declared, Phase):
        return declared if declared.name == name else replace(declared, name=name)
    return _from_functions(module, name)


def _from_functions(module: ModuleType, name: str) -> Phase[Any]:
    run = getattr(module, "run", None)
    if not callable(run):
        raise PhaseLoadError(module.__name__, "the module must export PHASE = Phase(...) (or `async def run(ctx)`)")
    return Phase(name=name, run=run, check=getattr(module, "check", None))


def phase_declaration(name: str, config: HarnessConfig) -> Phase[Any]:
    """The declared phase for ``name``: a built-in, or the custom module the config names (errors name the key)."""
    spec = config.phases.get(name)
    module = spec.module if spec and spec.module else BUILTIN_MODULES[name]
    try:
        phase = load_phase(module, name)
    except PhaseLoadError as err:
        raise ConfigError(config.source_file, f"phases.{name}.module", module, err.why) from None
    if phase.check is None:
        artifact = (spec.artifact if spec else None) or phase.artifact
        phase = replace(phase, check=artifact_check(artifact))
    return phase


def artifact_check(artifact: str | None) -> GateCheck:
    """A phase without its own check passes its gate when the artifact it promises exists."""

    def check(ctx: GateContext) -> list[str]:
        if artifact and not (ctx.paths.dir / artifact).is_file():
            return [f"did not write {artifact}"]
        return []

    return check


def make_harness(
    config: HarnessConfig | str | Path,
    models: Mapping[str, ModelOverride] | None = None,
    prompt_dir: str | Path | None = None,
) -> Harness:
    cfg = config if isinstance(config, HarnessConfig) else load_config(config)
    folder = prompt_dir or cfg.prompt_dir
    if folder and not Path(folder).is_absolute() and cfg.source_file != "<memory>":
        folder = Path(cfg.source_file).parent / folder
    phase_groups(cfg)  # custom phases placed (known anchors, no cycles) before their code is imported
    phases = {name: phase_declaration(name, cfg) for name in cfg.phases}
    return Harness(cfg, ModelRegistry(cfg, models), Path(folder) if folder else None, phases)


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
    groups = phase_groups(harness.config, profile)
    order = [phase for group in groups for phase in group]
    make_orchestrator = importlib.import_module(ORCHESTRATOR_MODULE).make_orchestrator
    builder = StateGraph(SDDState, context_schema=Context, input_schema=InputState)
    # input_schema given, not inferred: inference re-evaluates SDDState's type hints for every node at compile
    for name in order:
        builder.add_node(name, phase_node(harness, harness.phases[name]), input_schema=SDDState)
        builder.add_edge(name, ORCHESTRATOR)
    orchestrator: GraphNode = make_orchestrator(harness, groups)
    builder.add_node(ORCHESTRATOR, orchestrator, input_schema=SDDState, destinations=(*order, END))
    builder.add_edge(START, order[0])
    graph = builder.compile(checkpointer=checkpointer, name="sdd")
    graph.harness = harness  # type: ignore[attr-defined]
    return graph
