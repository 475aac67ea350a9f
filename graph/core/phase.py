"""A phase: its declaration, what its ``run`` and ``check`` receive, and the node that runs it.

Every built-in phase module (``nodes/<phase>.py``) and every custom phase a config names with ``module:``
exports one ``PHASE = Phase(...)``; the builder composes the graph from these declarations (like deepagents'
``SubAgent``). Phase-specific routing — apply's fan-out over task batches — is a hook of the declaration, so
neither the builder nor the orchestrator knows any phase by name. Everything generic — timing, call
recording, attempts, the budget check before a phase spends anything, progress events, turning model/edit
failures into gate feedback — lives here once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime
from langgraph.types import Send
from pydantic import BaseModel

from sdd_harness.graph.core.config import HarnessConfig, RunSettings
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.llm import (
    ModelOutputError,
    ask_structured,
    closed_fences,
    is_provider_fault,
    provider_error,
    transcribe_text,
)
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.state import SDDState, phase_seconds
from sdd_harness.graph.core.usage import CallRecorder, Pricer, effective_token_budget, spend_problem, was_capped
from sdd_harness.graph.infra.git import protected_paths
from sdd_harness.graph.infra.openspec import ArchiveError
from sdd_harness.graph.infra.workspace import Workspace, WorkspaceError, resolved

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
    phases: dict[str, Phase[Any]] = field(default_factory=dict)
    on_run_start: Callable[[SDDState, Context], None] | None = None  # e.g. Studio: put the run in the repo's index
    on_run_end: Callable[[SDDState, Context], None] | None = None  # ... and record how it ended
    pricer: Pricer = field(init=False)
    _token_budgets: dict[tuple[float | None, int | None], int | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.pricer = Pricer(self.config)

    def prompt(self, role: str) -> str:
        """A role's prompt: the config's ``prompt:``, else the declaration's, else the role name — looked up
        in the user's prompt folder first, then the built-in prompts/ package."""
        spec = self.config.phases.get(role)
        declared = self.phases.get(role)
        name = (spec.prompt if spec else None) or (declared.prompt if declared else None) or role
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

    def budget_problem(self, state: Mapping[str, Any], settings: RunSettings) -> str | None:
        """Why the run must stop for its budget (dollars, tokens where a price is unknown, phase time), or None."""
        key = (settings.budget_usd, settings.token_budget)
        if key not in self._token_budgets:
            roles = {role: self.registry.binding(role) for role in self.config.roles()}
            self._token_budgets[key] = effective_token_budget(self.config, settings, roles)
        return spend_problem(state.get("calls") or [], settings, self._token_budgets[key], phase_seconds(state))

    def settings(self, context: Context) -> RunSettings:
        update = {
            k: v
            for k, v in (
                ("budget_usd", context.budget_usd),
                ("token_budget", context.token_budget),
                ("time_budget_s", context.time_budget_s),
                ("max_attempts", context.max_attempts),
            )
            if v is not None
        }
        if context.approval_gates is not None:
            update["approval_gates"] = context.approval_gates
        return self.config.run.model_copy(update=update)


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


@dataclass
class GateContext:
    """What a deterministic gate check may look at."""

    state: SDDState
    workspace: Workspace
    paths: ChangePaths
    settings: RunSettings

    def result(self, phase: Phase[Out]) -> Out | None:
        """An earlier phase's output as its declared model (None when it has not run)."""
        return phase.parse((self.state.get("outputs") or {}).get(phase.name))


@dataclass
class PhaseContext(GateContext):
    """What a phase module may use: models through ``ask``, files through ``workspace``."""

    phase: str = ""
    harness: Harness | None = None
    recorder: CallRecorder | None = None
    emit: Callable[[dict[str, Any]], None] = lambda event: None
    attempt: int = 1
    git: dict[str, Any] | None = None  # the run's git record (branch, the user's files), for commits
    deadline: float | None = None  # time.perf_counter() when the run's time budget runs out (None: no budget)

    def out_of_time(self) -> bool:
        """The run's time budget is spent: start no more optional model work (more samples, repairs)."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def model(self, role: str | None = None, *, escalated: bool = False, **bind: Any) -> Runnable:
        """The role's model (bound to call options); ``escalated`` asks for its ``escalate:`` model instead, and
        a phase's retry after a failed gate uses that model by itself."""
        assert self.harness is not None
        role = role or self.phase
        wanted = escalated or (self.attempt > 1 and role == self.phase)
        if wanted and (stronger := self.harness.registry.escalation(role, **bind)) is not None:
            return stronger
        return self.harness.registry.runnable(role, **bind)

    @property
    def feedback(self) -> str:
        return (self.state.get("feedback") or {}).get(self.phase, "")

    @property
    def request(self) -> str:
        return self.state.get("request", "")

    def output(self, phase: str) -> dict[str, Any]:
        """An earlier phase's output as stored (a dict); ``result(PHASE)`` gives it typed."""
        return (self.state.get("outputs") or {}).get(phase) or {}

    def brief(self, phase: Phase[Any]) -> str:
        """The few lines of an earlier phase's output that this phase's prompt shows."""
        return phase.describe(self.output(phase.name))

    def system_prompt(self, role: str | None = None, prompt: str | None = None) -> str:
        """``role``'s prompt (or the prompt file ``prompt``) and ``role``'s output rules."""
        role = role or self.phase
        assert self.harness is not None
        rules = "\n".join(f"- {rule}" for rule in self.harness.verbosity(role))
        return f"{self.harness.prompt(prompt or role).strip()}\n\n## Output rules\n{rules}\n"

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
            self.model(role),
            schema,
            messages,
            mode=mode,
            repairs=repairs,
            config={"callbacks": [self.recorder]},
            prepare=prepare,
        )

    async def ask_text(
        self,
        user: str,
        *,
        temperature: float | None = None,
        seed: int | None = None,
        escalated: bool = False,
        system: str = "",
        stop: list[str] | None = None,
    ) -> str:
        """One plain-text call for this phase (code blocks, not JSON; ``system`` replaces its system prompt),
        recorded. A reply cut at the output limit comes back as far as it got, its last code fence left open; a
        complete reply has every fence closed, so an open fence means a cut. Provider faults: ``ProviderError``."""
        assert self.recorder is not None
        bind: dict[str, Any] = {
            k: v for k, v in dict(temperature=temperature, seed=seed, stop=stop).items() if v is not None
        }
        messages = [SystemMessage(system or self.system_prompt()), HumanMessage(user)]
        try:
            reply = await self.model(escalated=escalated, **bind).ainvoke(
                messages, config={"callbacks": [self.recorder]}
            )
        except Exception as err:  # noqa: BLE001 - provider faults are named; anything else is a bug to raise
            if is_provider_fault(err):
                raise provider_error(err) from err
            raise
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        text = text if was_capped(reply) else closed_fences(text)
        transcribe_text(self.phase, user, text)
        return text

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


def workspace_of(context: Context, harness: Harness, settings: RunSettings) -> Workspace:
    """The run's repository as a guarded workspace: files the user had uncommitted changes in are read-only,
    files over the size limit are refused, and commands run without the configured provider keys."""
    return Workspace(
        context.repo,
        protected=protected_paths(context.git),
        max_file_bytes=settings.max_file_bytes,
        secret_names=harness.config.api_key_env_names(),
    )


def change_paths(state: SDDState, workspace: Workspace, settings: RunSettings) -> ChangePaths:
    return ChangePaths(workspace.root, state.get("change_id") or "change", settings.openspec_root)


class GraphNode:
    """An async node as a callable object rather than a bare closure.

    At compile time LangGraph disassembles every node *function* looking for subgraphs (~2 ms per node with
    ``dis``); objects are skipped. Nothing here is a subgraph, so the graph compiles ~4x faster.
    """

    def __init__(self, fn: Callable[[SDDState, Runtime[Context]], Awaitable[Any]]) -> None:
        self.fn = fn
        self.__name__ = fn.__name__

    async def __call__(self, state: SDDState, runtime: Runtime[Context]) -> Any:
        return await self.fn(state, runtime)


def phase_node(harness: Harness, phase: Phase[Any]) -> GraphNode:
    """A declared phase as a LangGraph node ``(state, runtime) -> update``.

    A run already over its budget (a resume that did not raise it) spends nothing: the phase does not start,
    and the orchestrator stops the run again, resumable at this phase.
    """
    name = phase.name

    async def node(state: SDDState, runtime: Runtime[Context]) -> dict[str, Any]:
        context: Context = runtime.context or Context()
        settings = harness.settings(context)
        writer = runtime.stream_writer or (lambda event: None)
        over, spent = harness.budget_problem(state, settings), phase_seconds(state)
        if over:
            writer({"event": "phase_skipped", "phase": name, "reason": over})
            return {"errors": {name: f"budget: {over}"}, "step_phases": [name]}
        if harness.on_run_start and not state.get("attempts"):  # the run's first phase, first time
            try:
                await asyncio.to_thread(harness.on_run_start, state, context)
            except Exception as err:  # noqa: BLE001 - bookkeeping must never stop a run
                writer({"event": "warning", "message": f"could not record the run: {err}"})
        workspace = workspace_of(context, harness, settings)
        recorder = CallRecorder(name, harness.pricer, harness.registry.lookup, writer)
        attempt = (state.get("attempts") or {}).get(name, 0) + 1
        ctx = PhaseContext(
            state=state,
            workspace=workspace,
            paths=change_paths(state, workspace, settings),
            settings=settings,
            phase=name,
            harness=harness,
            recorder=recorder,
            emit=writer,
            attempt=attempt,
            git=context.git,
            deadline=None if settings.time_budget_s is None else time.perf_counter() + settings.time_budget_s - spent,
        )
        model, _ = harness.registry.describe(name)
        writer({"event": "phase_start", "phase": name, "attempt": attempt, "model": model})
        started, wall_start = time.perf_counter(), time.time()
        error = ""
        try:
            update = await phase.run(ctx)
        except (ModelOutputError, WorkspaceError, ArchiveError) as err:
            update, error = {}, f"{type(err).__name__}: {err}"
        seconds = round(time.perf_counter() - started, 3)
        calls = [r.model_dump() for r in recorder.records]
        writer(
            {
                "event": "phase_end",
                "phase": name,
                "seconds": seconds,
                "error": error,
                "cost_usd": sum(c["cost_usd"] or 0 for c in calls),
                "calls": len(calls),
            }
        )
        return {
            **update,
            "calls": calls,
            "attempts": {name: attempt},
            "errors": {name: error},
            "step_phases": [name],
            "spans": {name: [[wall_start, wall_start + seconds]]},
        }

    node.__name__ = name.replace("-", "_")
    return GraphNode(node)
