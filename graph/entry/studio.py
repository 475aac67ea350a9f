"""Graph factory for `langgraph dev` / LangGraph Studio (the server supplies the checkpointer).

    SDD_CONFIG=configs/local.yaml langgraph dev --no-browser --host 127.0.0.1 --port 8123 --no-reload

The config comes from ``SDD_CONFIG`` (a path, relative to where `langgraph dev` runs, or a bundled name such as
``local`` / ``opencode-go``; default ``local``); ``SDD_PROMPT_DIR`` optionally points at prompt overrides. The
per-run settings (repo, approval gates, budgets, auto-approve) come from the runtime context form Studio shows
(``graph.core.context.Context``); human approval gates pause the run with an interrupt that Studio answers with
``approve``, ``reject: <feedback>`` or ``stop`` as the resume value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sdd_harness.graph.core.builder import build_graph
from sdd_harness.graph.core.config import HarnessConfig, load_config, resolve_config_path
from sdd_harness.graph.entry.api import finish_current_run, register_current_run

ENV_CONFIG = "SDD_CONFIG"
ENV_PROMPTS = "SDD_PROMPT_DIR"
_cache: dict[tuple[str, int, str], Any] = {}


def studio_config() -> HarnessConfig:
    """The config named by ``SDD_CONFIG`` (default ``local``)."""
    return load_config(os.environ.get(ENV_CONFIG) or "local")


def make_graph(config: Any = None) -> Any:
    """Compiled graph without a checkpointer (langgraph dev adds its own); rebuilt when the config file changes.

    The server calls the factory for every request (runs, schemas, drawing), so the compiled graph — and with
    it the model registry's clients — is kept while ``SDD_CONFIG`` and the file's mtime stay the same.
    """
    name = os.environ.get(ENV_CONFIG) or "local"
    path = resolve_config_path(name)
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns, os.environ.get(ENV_PROMPTS, ""))
    if key not in _cache:
        _cache.clear()
        config = load_config(path)
        graph = build_graph(config, prompt_dir=os.environ.get(ENV_PROMPTS) or None)
        graph.harness.on_run_start = lambda state, context: register_current_run(
            context.repo, state.get("request", ""), config, source="studio"
        )
        graph.harness.on_run_end = lambda state, context: finish_current_run(
            context.repo, state.get("status", ""), state.get("status_reason", "")
        )
        _cache[key] = graph
    return _cache[key]
