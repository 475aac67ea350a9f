"""sdd-harness: Spec-Driven Development as a LangGraph graph.

The repository's folders install under this one import package: ``sdd_harness.graph`` (core, infra, entry
points), ``sdd_harness.nodes`` (one module per phase), ``sdd_harness.prompts`` and ``sdd_harness.configs``.
The script API is re-exported here, loaded on first use so ``import sdd_harness`` stays cheap::

    from sdd_harness import run_change
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["__version__", "build_graph", "list_runs", "resume_run", "run_change"]

_LAZY = {
    "run_change": "sdd_harness.graph.entry.api",
    "resume_run": "sdd_harness.graph.entry.api",
    "list_runs": "sdd_harness.graph.entry.api",
    "build_graph": "sdd_harness.graph.core.builder",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sdd_harness' has no attribute {name!r}")
