"""A phase, declared once: its name, its typed output, how it runs, how its gate checks it.

Every built-in phase module (``nodes/<phase>.py``) and every custom phase a config names with ``module:``
exports one ``PHASE = Phase(...)``; the builder composes the graph from these declarations (like deepagents'
``SubAgent``). Phase-specific routing — apply's fan-out over task batches — is a hook of the declaration, so
neither the builder nor the orchestrator knows any phase by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:  # runtime types only for annotations: the runtime module imports this one
    from langgraph.types import Send

    from sdd_harness.graph.core.runtime import GateContext, PhaseContext

Out = TypeVar("Out", bound=BaseModel)
PhaseUpdate = dict[str, Any]
PhaseRun = Callable[["PhaseContext"], Awaitable[PhaseUpdate]]
GateCheck = Callable[["GateContext"], list[str]]


@dataclass(frozen=True, kw_only=True)
class Phase(Generic[Out]):
    """One phase of the graph.

    ``run`` does the work and returns a state update (``{"outputs": {name: ...}, "artifacts": {name: path}}``);
    ``check`` is the deterministic gate the orchestrator runs after it (a list of problems; empty = passed).
    ``output`` is the pydantic model of what the phase stores in ``outputs[name]``: later phases read it typed
    with ``ctx.result(PHASE)``, and ``brief`` is how their prompts see it in a few lines.
    The three hooks are for phases that fan out (apply): ``fan_out`` turns a visit into parallel ``Send``s,
    ``remaining`` says what is still to do after a visit (the orchestrator sends the run back without a gate),
    ``collect`` folds the parallel results into the phase's output when the orchestrator sees them.
    """

    name: str
    run: PhaseRun
    output: type[Out] | None = None
    check: GateCheck | None = None
    prompt: str | None = None
    artifact: str | None = None
    brief: Callable[[Out], str] | None = None
    fan_out: Callable[[Mapping[str, Any], bool], list[Send]] | None = None
    remaining: Callable[[Mapping[str, Any]], str] | None = None
    collect: Callable[[Mapping[str, Any]], PhaseUpdate] | None = None

    def parse(self, data: Mapping[str, Any] | None) -> Out | None:
        """This phase's stored output as its model (None when it has not run or declares no output)."""
        if not data or self.output is None:
            return None
        return self.output.model_validate(data)

    def describe(self, data: Mapping[str, Any] | None) -> str:
        """The few lines later phases' prompts show of this output."""
        result = self.parse(data)
        if result is None:
            return "(none)"
        return self.brief(result) if self.brief else result.model_dump_json(exclude_defaults=True)


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
