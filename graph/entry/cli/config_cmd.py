"""`sdd config init` (a commented starter `.sdd.yaml`) and `sdd config show` (which config applies here, and why)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sdd_harness.graph.entry.cli.app import ConfigOpt, RepoOpt, app, fail
from sdd_harness.graph.entry.cli.project import PROJECT_FILE, discover, write_starter

config_app = typer.Typer(
    help="The project's config: `init` writes a starter .sdd.yaml, `show` says which config applies and why.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")


@config_app.command("init")
def init(
    repo: RepoOpt = Path("."),
    base: Annotated[
        str, typer.Option("--from", help="Bundled config (or path) the starter extends: local, opencode-go, ...")
    ] = "local",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing .sdd.yaml.")] = False,
) -> None:
    """Write a commented starter .sdd.yaml at the repo root (refuses to overwrite one without --force)."""
    from sdd_harness.graph.core.config import ConfigError

    if not repo.is_dir():
        raise fail(f"--repo {repo}: not a folder")
    try:
        target = write_starter(repo, base, force)
    except FileExistsError:
        raise fail(f"{repo / PROJECT_FILE} already exists; keep it, or replace it with --force") from None
    except ConfigError as err:
        raise fail(f"--from {base}: {err}") from None
    print(f"wrote {target.resolve()} (extends {base}); `sdd run` in {repo.resolve()} now uses it")


@config_app.command("show")
def show(config: ConfigOpt = None, repo: RepoOpt = Path(".")) -> None:
    """Say which config `sdd run` would use here and why, and check that it loads."""
    from sdd_harness.graph.core.config import ConfigError

    try:
        chosen = discover(config, repo)
        cfg = chosen.load()
    except ConfigError as err:
        raise fail(str(err)) from None
    print(chosen.describe())
    print(f"file: {cfg.source_file}; {len(cfg.phases)} phases; default provider {cfg.default_provider}")
