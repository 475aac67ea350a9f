"""`sdd run`, `sdd resume`, `sdd demo`: start or continue a change, with the live display and an exact resume hint.

Everything the user gave is checked first (request, repo, config, `-m`, keys, local models); a problem exits 2
with one line before any file is written.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from sdd_harness.graph.entry.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PAUSED,
    BadInput,
    ConfigOpt,
    JsonOpt,
    RepoOpt,
    app,
    fail,
)
from sdd_harness.graph.entry.cli.display import RunDisplay, console, print_summary, terminal_approver
from sdd_harness.graph.entry.cli.project import ChosenConfig, discover


def exit_code(status: str) -> int:
    return {"done": EXIT_OK, "awaiting_approval": EXIT_PAUSED}.get(status, EXIT_FAILED)


def resume_command(run_id: str, repo: Path, config_flag: str = "") -> str:
    """The exact command that continues this run from any folder."""
    return f"sdd resume {run_id} --repo {shlex.quote(str(repo.resolve()))}{config_flag}"


@app.command()
def run(
    request: Annotated[
        str, typer.Argument(metavar="REQUEST", help="The change request, or a UTF-8 text file holding it.")
    ] = "",
    repo: RepoOpt = Path("."),
    config: ConfigOpt = None,
    auto: Annotated[bool, typer.Option("--auto", help="Skip all human approval gates.")] = False,
    spec_file: Annotated[Path | None, typer.Option(help="A filled precise-spec template (YAML).")] = None,
    model: Annotated[
        list[str],
        typer.Option(
            "--model", "-m", metavar="ROLE=MODEL", help="Override a role's model: ROLE=MODEL or ROLE=PROVIDER:MODEL."
        ),
    ] = [],  # noqa: B006
    budget: Annotated[float | None, typer.Option(help="Cost cap in USD for this run.")] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(min=1, metavar="SECONDS", help="Phase-time cap in seconds; stops cleanly, resumable."),
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Reruns per phase and loop-backs.")
    ] = None,
    no_task_loop: Annotated[bool, typer.Option("--no-task-loop", help="Generate all tasks, then verify.")] = False,
    run_id: Annotated[str | None, typer.Option(help="Use this run id (default: random).")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Phase profile, e.g. fast-forward (skips explore, design).")
    ] = None,
    prompts: Annotated[Path | None, typer.Option(help="Folder of .md prompts overriding built-in ones.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the phase map, prices and an estimated cost; run nothing.")
    ] = False,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="May write files with uncommitted changes.")
    ] = False,
    no_branch: Annotated[bool, typer.Option("--no-branch", help="Stay on the current branch (no `sdd undo`).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run a change through all nine phases against REPO."""
    from sdd_harness.graph.core.config import ConfigError

    out = console(sys.stderr if json_out else sys.stdout)
    try:
        if not repo.is_dir():
            raise BadInput(f"--repo {repo}: not a folder")
        chosen = discover(config, repo)
        cfg = chosen.load()
        cfg = _with_run_options(cfg, no_task_loop, profile)
        if prompts and not prompts.is_dir():
            raise BadInput(f"--prompts {prompts}: not a folder")
        from sdd_harness.graph.entry.cli.inputs import check_ready, parse_overrides, read_request

        overrides = parse_overrides(model, cfg)
        if dry_run:
            attempts = {"max_attempts": max_attempts} if max_attempts else {}
            _dry_run(
                cfg.model_copy(update={"run": cfg.run.model_copy(update=attempts)}), chosen, overrides, json_out, out
            )
            raise typer.Exit(EXIT_OK)
        template = _load_spec_template(spec_file) if spec_file else None
        text = read_request(request) if request else _template_request(template)
        if not text.strip():
            raise BadInput("give a change request (text or a UTF-8 text file) or --spec-file")
        if "\x00" in text:
            raise BadInput("the request contains NUL bytes (binary data?); give it as UTF-8 text")
        check_ready(cfg, overrides)
    except (ConfigError, BadInput) as err:
        raise fail(str(err)) from None
    out.print(chosen.describe(), markup=False)
    _execute(
        text,
        repo.resolve(),
        chosen,
        cfg,
        overrides=overrides,
        auto=auto,
        budget=budget,
        time_budget=time_budget,
        max_attempts=max_attempts,
        template=template,
        run_id=run_id,
        prompts=prompts,
        git=(not no_branch, allow_dirty),
        json_out=json_out,
        out=out,
    )


def _with_run_options(cfg: Any, no_task_loop: bool, profile: str | None) -> Any:
    if profile and profile not in cfg.profiles:
        raise BadInput(f"--profile {profile!r}: unknown; allowed: {', '.join(sorted(cfg.profiles))}")
    update: dict[str, Any] = {"task_loop": False} if no_task_loop else {}
    if profile:
        update["profile"] = profile
    return cfg.model_copy(update={"run": cfg.run.model_copy(update=update)}) if update else cfg


def _execute(
    text: str,
    repo: Path,
    chosen: ChosenConfig,
    cfg: Any,
    *,
    overrides: dict[str, str],
    auto: bool,
    budget: float | None,
    max_attempts: int | None,
    template: dict[str, Any] | None,
    time_budget: float | None = None,
    run_id: str | None,
    prompts: Path | None,
    git: tuple[bool, bool],
    json_out: bool,
    out: Any,
) -> None:
    from sdd_harness.graph.core.context import Context
    from sdd_harness.graph.entry.api import run_change

    run_id = run_id or uuid.uuid4().hex[:12]  # chosen here so every hint can name it
    hint = resume_command(run_id, repo, chosen.resume_flag())
    context = Context(
        repo=str(repo), auto_approve=auto, budget_usd=budget, time_budget_s=time_budget, max_attempts=max_attempts
    )
    display = RunDisplay(out)
    result = guarded(
        lambda: run_change(
            text,
            repo,
            cfg,
            models=overrides,
            context=context,
            approver=None if auto or not sys.stdin.isatty() else terminal_approver(),
            spec_template=template,
            run_id=run_id,
            on_event=display,
            prompt_dir=prompts,
            git_branch=None if git[0] else False,
            allow_dirty=git[1],
        ),
        display,
        hint,
    )
    finish(result, repo, (chosen.ref, chosen.why), hint, json_out, out)


def guarded(call: Callable[[], Any], display: RunDisplay, hint: str) -> Any:
    """Run the call; bad input exits 2 with one line, a failure mid-run exits 1 naming the exact resume command."""
    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.api import RunError
    from sdd_harness.graph.infra.embedded import EmbeddedModelError

    try:
        return call()
    except (ConfigError, RunError) as err:
        raise fail(str(err)) from None
    except EmbeddedModelError as err:
        raise fail(f"{err} — the run is checkpointed; continue it with: {hint}", EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted; the run is checkpointed — continue it with: {hint}", EXIT_FAILED) from None
    except Exception as err:  # a bug in a phase must not cost the run: one line, the resume command
        if os.environ.get("SDD_DEBUG"):
            raise
        line = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise fail(
            f"the run stopped on an unexpected error ({line}); it is checkpointed — continue it with: {hint} "
            "(SDD_DEBUG=1 shows the traceback)",
            EXIT_FAILED,
        ) from None
    finally:
        display.close()


def finish(result: Any, repo: Path, config: tuple[str, str], hint: str, json_out: bool, out: Any) -> None:
    """Show (or emit as JSON) how the run ended, with the exact command to continue it; exit with its code."""
    code = exit_code(result.status)
    resume = None
    if result.status == "awaiting_approval":
        resume = f"{hint} --answer approve|'reject: <feedback>'|stop"
    elif result.status != "done":
        resume = hint
    if json_out:
        from sdd_harness.graph.entry.cli.output import emit, run_document

        emit(run_document(result, repo=repo, config=config[0], config_from=config[1], exit_code=code, resume=resume))
    else:
        label = "paused for approval after " + str((result.interrupt or {}).get("phase")) + "; answer with"
        print_summary(result, out, f"{label}: {resume}" if code == EXIT_PAUSED else (resume and f"resume: {resume}"))
    raise typer.Exit(code)


def _dry_run(cfg: Any, chosen: ChosenConfig, overrides: dict[str, str], json_out: bool, out: Any) -> None:
    """The phase map, prices and the cost range; no model is called and nothing is written."""
    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.cli.estimate import estimate, models_table, role_rows
    from sdd_harness.graph.entry.cli.inputs import check_ready

    rows = role_rows(cfg, overrides)
    summary = estimate(rows, cfg.run.max_attempts)
    try:
        check_ready(cfg, overrides)
        ready = None
    except ConfigError as err:
        ready = str(err)
    if json_out:
        from sdd_harness.graph.entry.cli.output import emit

        emit(
            {
                "dry_run": True,
                "config": chosen.describe().removeprefix("config: "),
                "roles": [r.model_dump() for r in rows],
                "estimate": summary,
                "not_ready": ready,
            }
        )
        return
    out.print(chosen.describe(), markup=False)
    out.print(models_table(rows, f"phase map · {cfg.source_file}", with_estimate=True))
    unpriced = f" (not priced: {', '.join(summary['unpriced_roles'])})" if summary["unpriced_roles"] else ""
    out.print(
        f"estimated cost: ${summary['cost_low_usd']:.4f} – ${summary['cost_high_usd']:.4f}{unpriced}", markup=False
    )
    out.print(f"  {summary['method']}; * = no recorded figure, the built-in phases' mean", markup=False)
    out.print(f"  {summary['tokens_source']}", markup=False)
    if ready:
        out.print(f"not ready to run: {ready}", markup=False, style="yellow")
    out.print("dry run: no model was called and nothing was written", markup=False)


def _load_spec_template(path: Path) -> dict[str, Any]:
    from sdd_harness.graph.core.spec_template import load_template

    return load_template(path)


def _template_request(template: dict[str, Any] | None) -> str:
    return f"{template['task']} (in {template['file']})" if template else ""


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id (see `sdd runs`).")],
    repo: RepoOpt = Path("."),
    config: Annotated[str | None, typer.Option("--config", "-c", help="Must be the run's config.")] = None,
    answer: Annotated[str | None, typer.Option(help="Approval answer: approve, 'reject: why', stop.")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Skip remaining approval gates.")] = False,
    budget: Annotated[float | None, typer.Option(help="New cost cap in USD.")] = None,
    time_budget: Annotated[
        float | None, typer.Option(min=1, metavar="SECONDS", help="New phase-time cap in seconds.")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(min=1, metavar="N", help="New attempt bound.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Continue a stopped, crashed or paused run from its last checkpoint."""
    from sdd_harness.graph.entry.api import resume_run

    out = console(sys.stderr if json_out else sys.stdout)
    if not repo.is_dir():
        raise fail(f"--repo {repo}: not a folder")
    overrides: dict[str, Any] = {"auto_approve": True} if auto else {}
    raised = (("budget_usd", budget), ("time_budget_s", time_budget), ("max_attempts", max_attempts))
    overrides.update({k: v for k, v in raised if v is not None})
    hint = resume_command(run_id, repo, ChosenConfig(config, "--config").resume_flag() if config else "")
    display = RunDisplay(out)
    result = guarded(
        lambda: resume_run(
            run_id,
            repo,
            config,
            answer=answer,
            overrides=overrides,
            approver=None if auto or not sys.stdin.isatty() else terminal_approver(),
            on_event=display,
        ),
        display,
        hint,
    )
    used = (config, "--config") if config else ("the run's own config", "the run index")
    finish(result, repo.resolve(), used, hint, json_out, out)


@app.command()
def demo(
    config: ConfigOpt = None,
    keep: Annotated[Path | None, typer.Option(help="Scratch folder (default: a new temp dir).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the bundled example change (add reading_time() plus tests) on a scratch copy of the bundled demo repo."""
    from importlib import resources

    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.cli.inputs import check_ready

    out = console(sys.stderr if json_out else sys.stdout)
    try:
        chosen = discover(config, None)
        cfg = chosen.load()
        check_ready(cfg, {})  # before the scratch copy: a missing model leaves nothing behind
    except ConfigError as err:
        raise fail(str(err)) from None
    if keep is not None and keep.exists() and not keep.is_dir():
        raise fail(f"--keep {keep}: not a folder")
    examples = resources.files("sdd_harness.examples")
    with resources.as_file(examples / "demo-repo") as source:
        scratch = (keep or Path(tempfile.mkdtemp(prefix="sdd-demo-"))) / "demo-repo"
        ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc", ".sdd")
        shutil.copytree(source, scratch, dirs_exist_ok=True, ignore=ignore)
    text = (examples / "demo-request.md").read_text(encoding="utf-8")
    from sdd_harness.graph.infra.git import GitError, init_repo

    try:
        tracked = not keep and init_repo(scratch, "the demo repository before the change")
    except GitError:
        tracked = False  # the run still works, and says that nothing can be rolled back
    out.print(
        f"scratch copy: {scratch}" + (" (a git repository: `sdd undo` rolls the run back)" if tracked else ""),
        markup=False,
    )
    out.print(chosen.describe(), markup=False)
    _execute(
        text,
        scratch.resolve(),
        chosen,
        cfg,
        overrides={},
        auto=True,
        budget=None,
        max_attempts=None,
        template=None,
        run_id=None,
        prompts=None,
        git=(True, False),
        json_out=json_out,
        out=out,
    )


__all__ = ["EXIT_BAD_INPUT", "demo", "exit_code", "resume", "resume_command", "run"]
