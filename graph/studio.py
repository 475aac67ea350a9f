"""Graph factory for `langgraph dev` / LangGraph Studio (the server supplies the checkpointer).

The config comes from ``SDD_CONFIG`` (a path or a bundled name; default ``local``); the per-run settings
(repo, approval gates, budgets) come from the runtime context form Studio shows.
"""

from __future__ import annotations

import os
from typing import Any

from graph.builder import build_graph


def make_graph(config: Any = None) -> Any:
    return build_graph(os.environ.get("SDD_CONFIG", "local"))
