"""`sdd runs`, `sdd undo`, `sdd models`, `sdd graph`, `sdd eval`: look at and roll back runs, phase maps, configs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sdd_harness.graph.entry.cli.app import EXIT_FAILED, BadInput, ConfigOpt, JsonOpt, RepoOpt, app, fail
from sdd_harness.graph.entry.cli.display import console
from sdd_harness.graph.entry.cli.project import discover

MODEL_KEYS = {"role", "provider", "model", "input_per_mtok", "output_per_mtok", "flat", "reasoning", "mode"}


@app.command()
def runs(repo: RepoOpt = Path("."), json_out: JsonOpt = False) -> None:
    """List runs recorded in REPO (started from the CLI, a script or Studio) with their status."""
    from sdd_harness.graph.entry.api import RunError, list_runs
    from sdd_harness.graph.entry.cli.output import emit, first_line, runs_document

    if not repo.is_dir():
        raise fail(f"--repo {repo}: not a folder")
    try:
        document = runs_document(repo.resolve(), list_runs(repo))
    except RunError as err:
        raise fail(str(err)) from None
    if json_out:
        emit(document)
        return
    out = console()
    if not document["runs"]:
        out.print(f"no runs in {repo.resolve()}", markup=False)
        return
    from rich.table import Table

    table = Table(title=f"runs in {repo.resolve()}")
    for col in ("run id", "status", "source", "started", "config", "request", "note"):
        table.add_column(col, overflow="fold" if col == "run id" else "ellipsis", no_wrap=col != "note")
    for entry in document["runs"]:
        note = entry["reason"] if entry.get("reason") and entry["status"] != "done" else ""
        table.add_row(
            entry["run_id"],
            str(entry["status"] or "?"),
            entry["source"],
            str(entry["started"] or ""),
            Path(str(entry["config"] or "")).stem,
            first_line(entry["request"] or ""),
            first_line(note, 80),
        )
    out.print(table)


@app.command()
def undo(
    run_id: Annotated[str, typer.Argument(help="Run id (see `sdd runs`).")],
    repo: RepoOpt = Path("."),
    discard: Annotated[bool, typer.Option("--discard", help="Also drop uncommitted changes on its branch.")] = False,
) -> None:
    """Roll a run back: original branch checked out, its sdd/ branch deleted, your own changes untouched."""
    from sdd_harness.graph.entry.api import RunError
    from sdd_harness.graph.entry.gitrun import describe, undo_run

    try:
        print(describe(undo_run(run_id, repo, discard=discard)))
    except RunError as err:
        raise fail(str(err)) from None


@app.command()
def models(
    config: ConfigOpt = None,
    repo: RepoOpt = Path("."),
    check: Annotated[
        bool, typer.Option("--check", help="Make one tiny call per role: requested vs served model, latency, $.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show which model serves each phase, on which provider, at what price (--check: ask each one)."""
    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.cli.estimate import models_table, role_rows

    out = console(sys.stderr if json_out else sys.stdout)
    try:
        chosen = discover(config, repo)
        cfg = chosen.load()
    except ConfigError as err:
        raise fail(str(err)) from None
    if check:
        print_model_checks(cfg, json_out)
        return
    rows = role_rows(cfg)
    if json_out:
        from sdd_harness.graph.entry.cli.output import emit

        emit(
            {
                "config": cfg.source_file,
                "config_from": chosen.why,
                "roles": [r.model_dump(include=MODEL_KEYS) for r in rows],
            }
        )
        return
    out.print(chosen.describe(), markup=False)
    out.print(models_table(rows, f"models · {cfg.source_file}", with_estimate=False))


def print_model_checks(cfg: Any, json_out: bool) -> None:
    """`sdd models --check`: a table of one tiny call per role; exit 1 if any role failed."""
    from rich.table import Table

    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.modelcheck import CHECK_COLUMNS, check_models, render_rows

    try:
        checks = check_models(cfg)
    except ConfigError as err:
        raise fail(str(err)) from None
    failed = [c.role for c in checks if not c.ok]
    if json_out:
        from sdd_harness.graph.entry.cli.output import emit

        emit({"config": cfg.source_file, "checks": [c.model_dump() for c in checks]})
        if failed:
            raise typer.Exit(EXIT_FAILED)
        return
    table = Table(title=f"model check · {cfg.source_file}")
    for col in CHECK_COLUMNS:
        table.add_column(col, justify="right" if col in ("latency", "$") else "left")
    for row in render_rows(checks):
        table.add_row(*row)
    out = console()
    out.print(table)
    mismatched = [c.role for c in checks if c.routing_mismatch]
    if mismatched:
        out.print(f"routing mismatch (served model differs from the requested one): {', '.join(mismatched)}")
    if failed:
        out.print(f"failed: {', '.join(failed)}")
        raise typer.Exit(EXIT_FAILED)


@app.command()
def graph(config: ConfigOpt = None, repo: RepoOpt = Path(".")) -> None:
    """Print the graph as a Mermaid diagram (every phase, the orchestrator and every loop-back edge)."""
    from sdd_harness.graph.core.builder import build_graph
    from sdd_harness.graph.core.config import ConfigError

    try:
        chosen = discover(config, repo)
        compiled = build_graph(chosen.load())
    except ConfigError as err:
        raise fail(str(err)) from None
    print(chosen.describe(), file=sys.stderr)  # stdout stays pure Mermaid
    print(compiled.get_graph().draw_mermaid())


def _bundled_tasks() -> Path:
    from importlib import resources

    return Path(str(resources.files("sdd_harness.examples") / "tasks"))


@app.command("eval")
def eval_cmd(
    tasks_dir: Annotated[
        Path | None,
        typer.Argument(
            help="Task suite folder (or one task folder). Default: ./examples/tasks, else the bundled suite."
        ),
    ] = None,
    config: Annotated[
        list[str],
        typer.Option("--config", "-c", help="Config to measure; repeat to compare several. Default: as `sdd run`."),
    ] = [],  # noqa: B006
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also run the one-shot baseline with each config's sdd-apply model.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Runs in parallel (1 for embedded models).")] = 1,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for eval-results.json, eval-report.md, work/.")
    ] = Path("eval-out"),
    task: Annotated[list[str], typer.Option("--task", "-t", help="Only these task names (repeat).")] = [],  # noqa: B006
    timeout: Annotated[float, typer.Option(help="Timeout in seconds for each acceptance pytest run.")] = 300.0,
    run_timeout: Annotated[
        float | None,
        typer.Option(help="Timeout in seconds for each harness run (pipeline runs stop themselves at 80 %)."),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="Each pipeline run's phase-time cap; it stops with its best code (default: 80 % of --run-timeout).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure configs on a task suite (hidden acceptance tests), optionally against a one-shot baseline."""
    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.cli.inputs import check_ready
    from sdd_harness.graph.entry.evaluate import eval_command

    if tasks_dir is None:
        tasks_dir = Path("examples/tasks") if Path("examples/tasks").is_dir() else _bundled_tasks()
    try:
        configs: list[Any] = []
        for ref in config or [None]:
            chosen = discover(ref, Path("."))
            cfg = chosen.load()
            check_ready(cfg, {})  # before any work folder is made
            configs.append(ref if ref else cfg)
    except (ConfigError, BadInput) as err:
        raise fail(str(err)) from None
    raise typer.Exit(
        eval_command(
            tasks_dir,
            configs,
            baseline,
            jobs,
            out,
            only=task or None,
            accept_timeout_s=timeout,
            run_timeout_s=run_timeout,
            time_budget_s=time_budget,
            json_out=json_out,
        )
    )
