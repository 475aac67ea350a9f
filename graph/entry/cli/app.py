"""The `sdd` Typer app: shared options, exit codes, the one-line error, `--version`.

Start-up stays fast: LangGraph, LangChain and rich are imported inside the commands, never at module level,
so `sdd --help` costs only typer (help is click's plain format: no rich import, flags shown as `--auto`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from sdd_harness import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PAUSED = 0, 1, 2, 3

app = typer.Typer(
    name="sdd",
    help="Spec-Driven Development harness: nine phases, one model per phase, an orchestrator that gates and loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="NAME|FILE",
        help="Config file or bundled name (local, opencode-go, openrouter, single-model). Default: the repo's "
        ".sdd.yaml, else [tool.sdd] in its pyproject.toml, else $SDD_CONFIG, else local.",
    ),
]
RepoOpt = Annotated[Path, typer.Option("--repo", "-r", metavar="DIR", help="Target repository.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Machine-readable JSON on stdout (keys in the README); progress on stderr.")
]


class BadInput(Exception):
    """Input the user can fix; shown as one `error:` line, exit 2, nothing written."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print one `error:` line on stderr and return the Exit to raise (newlines folded: one line, always)."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return typer.Exit(code)


def bad_input(message: str) -> NoReturn:
    raise fail(message)


def _show_version(value: bool) -> None:
    if value:
        print(f"sdd-harness {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Spec-Driven Development harness: nine phases, one model per phase, an orchestrator that gates and loops."""
