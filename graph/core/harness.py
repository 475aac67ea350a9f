"""What a phase module receives, and the adapter that turns a phase module into a graph node.

A phase module (``nodes/<phase>.py``) exports ``async def run(ctx: PhaseContext) -> dict`` and
``def check(ctx: GateContext) -> list[str]``. Everything generic — timing, call recording, attempts,
progress events, turning model/edit failures into gate feedback — lives here once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from sdd_harness.graph.core.artifacts import ChangePaths
from sdd_harness.graph.core.config import HarnessConfig, RunSettings
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.llm import ModelOutputError, ask_structured
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.state import SDDState
from sdd_harness.graph.core.usage import CallRecorder, Pricer
from sdd_harness.graph.infra.openspec import ArchiveError
from sdd_harness.graph.infra.workspace import Workspace, WorkspaceError

T = TypeVar("T", bound=BaseModel)
DEFAULT_VERBOSITY = ["Be terse: no preamble, no restating the task, no tutorial comments."]


@cache
def _builtin_prompt(name: str) -> str:
    return resources.files("sdd_harness.prompts").joinpath(f"{name}.md").read_text(encoding="utf-8")


@dataclass
class Harness:
    """Config plus the model registry: everything nodes share across runs of one compiled graph."""

    config: HarnessConfig
    registry: ModelRegistry
    prompt_dir: Path | None = None
    pricer: Pricer = field(init=False)

    def __post_init__(self) -> None:
        self.pricer = Pricer(self.config)

    def prompt(self, role: str) -> str:
        """A role's prompt: the user prompt folder first, then the built-in prompts/ package."""
        spec = self.config.phases.get(role)
        name = spec.prompt if spec and spec.prompt else role
        if name.endswith(".md"):
            path = Path(name)
            if not path.is_absolute() and self.config.source_file != "<memory>":
                path = Path(self.config.source_file).parent / path
            return path.read_text(encoding="utf-8")
        if self.prompt_dir and (self.prompt_dir / f"{name}.md").is_file():
            return (self.prompt_dir / f"{name}.md").read_text(encoding="utf-8")
        return _builtin_prompt(name)

    def verbosity(self, role: str) -> list[str]:
        """Output rules: global '*', then per phase, then per model, then the binding's own."""
        binding = self.registry.binding(role)
        rules = list(self.config.verbosity.get("*", DEFAULT_VERBOSITY))
        rules += self.config.verbosity.get(role, []) + self.config.verbosity.get(binding.model, [])
        return rules + (binding.verbosity or [])

    def settings(self, context: Context) -> RunSettings:
        update = {
            k: v
            for k, v in (
                ("budget_usd", context.budget_usd),
                ("token_budget", context.token_budget),
                ("max_attempts", context.max_attempts),
            )
            if v is not None
        }
        if context.approval_gates is not None:
            update["approval_gates"] = context.approval_gates
        return self.config.run.model_copy(update=update)


@dataclass
class GateContext:
    """What a deterministic gate check may look at."""

    state: SDDState
    workspace: Workspace
    paths: ChangePaths
    settings: RunSettings


@dataclass
class PhaseContext(GateContext):
    """What a phase module may use: models through ``ask``, files through ``workspace``."""

    phase: str = ""
    harness: Harness | None = None
    recorder: CallRecorder | None = None
    emit: Callable[[dict[str, Any]], None] = lambda event: None

    @property
    def feedback(self) -> str:
        return (self.state.get("feedback") or {}).get(self.phase, "")

    @property
    def request(self) -> str:
        return self.state.get("request", "")

    def output(self, phase: str) -> dict[str, Any]:
        return (self.state.get("outputs") or {}).get(phase) or {}

    def system_prompt(self, role: str | None = None) -> str:
        role = role or self.phase
        assert self.harness is not None
        rules = "\n".join(f"- {rule}" for rule in self.harness.verbosity(role))
        return f"{self.harness.prompt(role).strip()}\n\n## Output rules\n{rules}\n"

    async def ask(
        self,
        schema: type[T],
        user: str,
        *,
        role: str | None = None,
        repairs: int = 2,
        feedback: bool = True,
        prepare: Callable[[Any], Any] | None = None,
    ) -> T:
        """One structured model call for this phase (or ``role``), recorded and repaired."""
        assert self.harness is not None and self.recorder is not None
        role = role or self.phase
        registry = self.harness.registry
        provider = self.harness.config.providers.get(self.harness.config.provider_name(registry.binding(role)))
        mode = provider.structured_output if provider else "json_schema"
        if feedback and self.feedback and role == self.phase:
            user = f"{user}\n\n## Feedback from the previous attempt (fix this)\n{self.feedback}"
        messages = [SystemMessage(self.system_prompt(role)), HumanMessage(user)]
        return await ask_structured(
            registry.runnable(role),
            schema,
            messages,
            mode=mode,
            repairs=repairs,
            config={"callbacks": [self.recorder]},
            prepare=prepare,
        )

    def tools_mode(self, role: str | None = None) -> str:
        """'native' or 'json': the binding's choice, else the provider's default."""
        assert self.harness is not None
        binding = self.harness.registry.binding(role or self.phase)
        provider = self.harness.config.provider_of(binding)
        return binding.tools or provider.tools

    async def ask_messages(self, schema: type[T], messages: list[BaseMessage], *, repairs: int = 2) -> T:
        """A structured call on a prepared conversation (multi-step protocols)."""
        assert self.harness is not None and self.recorder is not None
        registry = self.harness.registry
        provider = self.harness.config.provider_of(registry.binding(self.phase))
        return await ask_structured(
            registry.runnable(self.phase),
            schema,
            messages,
            mode=provider.structured_output,
            repairs=repairs,
            config={"callbacks": [self.recorder]},
        )

    def messages(self, user: str) -> list[BaseMessage]:
        if self.feedback:
            user = f"{user}\n\n## Feedback from the previous attempt (fix this)\n{self.feedback}"
        return [SystemMessage(self.system_prompt()), HumanMessage(user)]

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking file work off the event loop (langgraph dev forbids blocking calls in async nodes)."""
        return await asyncio.to_thread(fn, *args)

    async def write_artifact(self, name: str, text: str) -> str:
        rel = self.paths.rel(name)
        await self.io(self.workspace.write, rel, text)
        return rel


PhaseRun = Callable[[PhaseContext], Awaitable[dict[str, Any]]]


def change_paths(state: SDDState, workspace: Workspace, settings: RunSettings) -> ChangePaths:
    return ChangePaths(workspace.root, state.get("change_id") or "change", settings.openspec_root)


class GraphNode:
    """An async node as a callable object rather than a bare closure.

    At compile time LangGraph disassembles every node *function* looking for subgraphs (~2 ms per node with
    ``dis``); objects are skipped. Nothing here is a subgraph, so the graph compiles ~4x faster.
    """

    def __init__(self, fn: Callable[[SDDState, Any], Awaitable[dict[str, Any]]]) -> None:
        self.fn = fn
        self.__name__ = fn.__name__

    async def __call__(self, state: SDDState, runtime: Any) -> dict[str, Any]:
        return await self.fn(state, runtime)


def phase_node(harness: Harness, phase: str, run: PhaseRun) -> GraphNode:
    """Wrap a phase module's ``run`` as a LangGraph node ``(state, runtime) -> update``."""

    async def node(state: SDDState, runtime: Any) -> dict[str, Any]:
        context: Context = runtime.context or Context()
        settings = harness.settings(context)
        workspace = Workspace(context.repo)
        writer = runtime.stream_writer or (lambda event: None)
        recorder = CallRecorder(phase, harness.pricer, harness.registry.lookup)
        attempt = (state.get("attempts") or {}).get(phase, 0) + 1
        ctx = PhaseContext(
            state=state,
            workspace=workspace,
            paths=change_paths(state, workspace, settings),
            settings=settings,
            phase=phase,
            harness=harness,
            recorder=recorder,
            emit=writer,
        )
        writer({"event": "phase_start", "phase": phase, "attempt": attempt})
        started, wall_start = time.perf_counter(), time.time()
        error = ""
        try:
            update = await run(ctx)
        except (ModelOutputError, WorkspaceError, ArchiveError) as err:
            update, error = {}, f"{type(err).__name__}: {err}"
        seconds = round(time.perf_counter() - started, 3)
        calls = [r.model_dump() for r in recorder.records]
        writer(
            {
                "event": "phase_end",
                "phase": phase,
                "seconds": seconds,
                "error": error,
                "cost_usd": sum(c["cost_usd"] or 0 for c in calls),
                "calls": len(calls),
            }
        )
        return {
            **update,
            "calls": calls,
            "attempts": {phase: attempt},
            "errors": {phase: error},
            "step_phases": [phase],
            "spans": {phase: [[wall_start, wall_start + seconds]]},
        }

    node.__name__ = phase.replace("-", "_")
    return GraphNode(node)
