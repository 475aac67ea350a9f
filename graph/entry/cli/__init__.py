"""`sdd`: run, resume and inspect SDD runs from the terminal.

One module per responsibility: ``app`` (the Typer app, shared options, exit codes), ``run_cmd`` (run, resume,
demo), ``info_cmd`` (runs, models, graph, eval), ``config_cmd`` (config init/show), ``project`` (which config
applies), ``inputs`` (checks on what the user typed), ``display`` (live progress, summary), ``estimate`` (phase
map prices, dry-run cost), ``output`` (--json documents). Heavy libraries load inside the commands.
"""

from __future__ import annotations

import os

# isort: off
# Importing these registers their commands, in the order `sdd --help` lists them.
from sdd_harness.graph.entry.cli import run_cmd, info_cmd, config_cmd  # noqa: F401

# isort: on
from sdd_harness.graph.entry.cli.app import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_PAUSED, app


def main() -> None:
    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
    app()


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_PAUSED", "app", "main"]
