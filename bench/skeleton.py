"""A bare LangGraph graph with the harness's topology: the baseline the harness overhead is measured against.

Same nodes (nine phases + orchestrator), same edges (START -> first phase, every phase -> orchestrator,
orchestrator -> any phase or END by a conditional edge), same checkpointer (the harness's SQLite saver, WAL,
synchronous=NORMAL, busy_timeout, ``durability="sync"``), same stream modes. Node bodies do nothing but
replay, through fresh ``FakeChatModel``s, the exact messages the harness's fakes received at that node visit,
and the orchestrator follows the harness run's recorded route (including the verify -> apply loop-back).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

from tests.fakes.chat import FakeChatModel

Replay = Mapping[tuple[str, int], Sequence[Sequence[Any]]]  # (role, visit or decision index) -> message lists


def _merge(left: dict | None, right: dict | None) -> dict:
    return {**(left or {}), **(right or {})}


class SkeletonState(TypedDict, total=False):
    request: str
    outputs: Annotated[dict[str, Any], _merge]
    visits: Annotated[dict[str, int], _merge]
    calls: Annotated[list[dict[str, Any]], operator.add]
    decisions: Annotated[list[str], operator.add]
    next_phase: str


def build_skeleton(
    phases: Sequence[str], models: Mapping[str, Any], replay: Replay, route: Sequence[str], checkpointer: Any = None
) -> Any:
    """Compile the skeleton. ``route[i]`` is where the orchestrator's i-th decision goes (END at the end)."""

    def phase_node(phase: str) -> Any:
        async def node(state: SkeletonState) -> dict[str, Any]:
            visit = (state.get("visits") or {}).get(phase, 0) + 1
            calls, text = [], ""
            for messages in replay.get((phase, visit), []):
                reply = await models[phase].ainvoke(list(messages))
                text = str(reply.content)
                calls.append({"phase": phase, **(reply.usage_metadata or {})})
            return {"outputs": {phase: text}, "visits": {phase: visit}, "calls": calls}

        node.__name__ = phase.replace("-", "_")
        return node

    async def orchestrator(state: SkeletonState) -> dict[str, Any]:
        index = len(state.get("decisions") or [])
        calls = []
        for messages in replay.get(("orchestrator", index), []):
            reply = await models["orchestrator"].ainvoke(list(messages))
            calls.append({"phase": "orchestrator", **(reply.usage_metadata or {})})
        target = route[index] if index < len(route) else END
        return {"decisions": [target], "next_phase": target, "calls": calls}

    builder = StateGraph(SkeletonState)
    for phase in phases:
        builder.add_node(phase, phase_node(phase))
        builder.add_edge(phase, "orchestrator")
    builder.add_node("orchestrator", orchestrator)
    builder.add_edge(START, phases[0])
    builder.add_conditional_edges("orchestrator", lambda s: s.get("next_phase") or END, [*phases, END])
    return builder.compile(checkpointer=checkpointer, name="skeleton")


@asynccontextmanager
async def sqlite_saver(path: Path):
    """The harness's own SQLite checkpointer (graph/infra/sqlite_saver.py), so both sides pay the same floor."""
    from sdd_harness.graph.infra.sqlite_saver import open_sqlite_saver

    path.parent.mkdir(parents=True, exist_ok=True)
    async with open_sqlite_saver(path) as saver:
        yield saver


def fake_models(
    roles: Sequence[str], replies: Mapping[str, Sequence[str]], latency_s: float = 0.0
) -> dict[str, FakeChatModel]:
    return {
        role: FakeChatModel(model=f"skeleton-{role}", replies=list(replies.get(role, [])), latency_s=latency_s)
        for role in roles
    }


async def run_skeleton(
    db: Path,
    phases: Sequence[str],
    replay: Replay,
    replies: Mapping[str, Sequence[str]],
    route: Sequence[str],
    request: str = "change",
    thread_id: str = "skeleton",
    latency_s: float = 0.0,
) -> dict[str, Any]:
    """One run, as the harness's API does one: open the saver, compile, stream to the end, read the state."""
    async with sqlite_saver(db) as saver:
        graph = build_skeleton(phases, fake_models([*phases, "orchestrator"], replies, latency_s), replay, route, saver)
        thread = {"configurable": {"thread_id": thread_id}}
        async for _ in graph.astream(
            {"request": request}, thread, stream_mode=["custom", "updates"], durability="sync"
        ):
            pass
        return (await graph.aget_state(thread)).values
