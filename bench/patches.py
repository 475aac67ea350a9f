"""What-if patches for the harness, applied in memory only (no harness file is edited), to measure their effect.

- ``schema_cache``: ``graph.llm.response_format`` rebuilds ``schema.model_json_schema()`` on every model call
  (pydantic JSON-schema generation, ~2 ms per call); cache it per (schema, mode).
- ``node_objects``: LangGraph's ``find_subgraph_pregel`` disassembles every node *function* closure at compile
  time (``get_function_nonlocals`` -> ``dis``) looking for subgraphs; a node that is a callable object (not a
  ``FunctionType``) is skipped. Wrap the phase nodes and the orchestrator in a tiny class.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

PATCHES = ("schema_cache", "node_objects")


class NodeObject:
    """An async graph node as a callable object (LangGraph then skips closure disassembly)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "node")

    async def __call__(self, state: Any, runtime: Any) -> Any:
        return await self.fn(state, runtime)


@contextmanager
def _setattr(obj: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


@contextmanager
def applied(*names: str) -> Iterator[None]:
    import graph.builder as builder
    import graph.llm as llm

    with ExitStack() as stack:
        if "schema_cache" in names:
            stack.enter_context(_setattr(llm, "response_format", functools.cache(llm.response_format)))
        if "node_objects" in names:
            phase_node, make_orch = builder.phase_node, builder.make_orchestrator
            stack.enter_context(_setattr(builder, "phase_node", lambda *a: NodeObject(phase_node(*a))))
            stack.enter_context(_setattr(builder, "make_orchestrator", lambda *a: NodeObject(make_orch(*a))))
        yield
