"""`sdd`: run, resume and inspect SDD runs from the terminal.

Start-up stays fast: LangGraph, LangChain and rich are imported inside the commands, never at module level,
so `sdd --help` costs only typer.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="sdd",
    help="Spec-Driven Development harness: nine phases, one model per phase, an orchestrator that gates and loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PAUSED = 0, 1, 2, 3
ConfigOpt = Annotated[
    str, typer.Option("--config", "-c", help="Config file or bundled name (local, opencode-go, ...).")
]
RepoOpt = Annotated[Path, typer.Option("--repo", "-r", help="Target repository.")]


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def parse_overrides(values: list[str]) -> dict[str, str]:
    from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR

    overrides = {}
    for item in values:
        role, sep, model = item.partition("=")
        if not sep or not model:
            raise fail(f"--model {item!r}: expected ROLE=MODEL, e.g. sdd-apply=deepseek-v4-pro")
        if role not in (*BUILTIN_PHASES, ORCHESTRATOR):
            raise fail(
                f"--model {item!r}: unknown role {role!r}; allowed: {', '.join((*BUILTIN_PHASES, ORCHESTRATOR))}"
            )
        overrides[role] = model
    return overrides


def read_request(request: str) -> str:
    path = Path(request)
    if len(request) < 300 and path.suffix in (".md", ".txt") and path.is_file():
        return path.read_text(encoding="utf-8")
    return request


class Progress:
    """Live phase lines; a rich status spinner on terminals, plain lines otherwise."""

    def __init__(self) -> None:
        self.console = console()
        self.cost = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "phase_start":
            attempt = f" (attempt {event['attempt']})" if event.get("attempt", 1) > 1 else ""
            self.console.print(f"▶ {event['phase']}{attempt}")
        elif kind == "phase_end":
            self.cost += event.get("cost_usd") or 0.0
            err = f"  [red]{event['error'][:160]}[/red]" if event.get("error") else ""
            self.console.print(
                f"  ✓ {event['phase']} {event['seconds']:.1f}s, {event['calls']} call(s), "
                f"running cost ${self.cost:.4f}{err}"
            )
        elif kind == "task":
            mark = "[green]ok[/green]" if event.get("ok") else "[red]failed[/red]"
            self.console.print(f"    task {event.get('task')} {event.get('step')} #{event.get('attempt')}: {mark}")
        elif kind == "gate":
            self.console.print(
                f"  ◆ gate {event['phase']}: [bold]{event['action']}[/bold] → {event['next']} ({event['by']})"
                + (f": {event['reason'][:160]}" if event["action"] != "advance" else "")
            )
        elif kind == "approval":
            self.console.print(f"  ? approval needed after {event.get('phase')}")


def terminal_approver(payload: dict[str, Any]) -> str:
    """Ask the reviewer in the terminal: approve, reject with feedback, or stop."""
    print(f"\n--- review {payload['phase']}: {payload.get('artifact', '')}")
    lines = payload.get("content", "").splitlines()
    print("\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else ""))
    while True:
        answer = input("[a]pprove / [r]eject <feedback> / [s]top > ").strip()
        word, _, rest = answer.partition(" ")
        word = {"a": "approve", "r": "reject", "s": "stop"}.get(word.lower(), word.lower())
        if word in ("approve", "stop"):
            return word
        if word == "reject":
            return f"reject: {rest or input('feedback > ')}"
        print("please answer a, r <feedback> or s")


def console() -> Any:
    """A rich console on terminals; plain, wide, unwrapped lines when piped (CI logs, files)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=160, soft_wrap=True, no_color=True)


def print_summary(result: Any) -> None:
    from rich.table import Table

    out = console()
    table = Table(title=f"run {result.run_id} · change {result.change_id}")
    numbers = ("calls", "in tok", "cached", "out tok", "cost $", "sec")
    for col in ("phase", "requested", "served", *numbers):
        table.add_column(col, justify="right" if col in numbers else "left")
    for row in result.report.get("phases", []):
        served = row["served"] + (" ⚠ mismatch" if row["routing_mismatch"] else "")
        table.add_row(
            row["phase"],
            row["requested"],
            served,
            str(row["calls"]),
            str(row["input_tokens"]),
            str(row.get("cached_tokens", 0)),
            str(row["output_tokens"]),
            f"{row['cost_usd']:.4f}",
            f"{row['seconds']:.1f}",
        )
    totals = result.report.get("totals", {})
    table.add_row(
        "total",
        "",
        "",
        str(totals.get("calls", 0)),
        str(totals.get("input_tokens", 0)),
        str(totals.get("cached_tokens", 0)),
        str(totals.get("output_tokens", 0)),
        f"{totals.get('cost_usd', 0):.4f}",
        f"{sum(r['seconds'] for r in result.report.get('phases', [])):.1f}",
    )
    out.print(table)
    for d in result.report.get("decisions", []):
        if d["action"] != "advance":
            out.print(f"  gate {d['phase']} → {d['action']} ({d['by']}): {d['reason'][:200]}")
    out.print(f"[bold]status: {result.status}[/bold] {result.reason[:400]}")
    if result.report.get("verdict"):
        out.print(f"verdict: {result.report['verdict']}")
    if result.report_path:
        out.print(f"report: {result.report_path}")


def exit_code(status: str) -> int:
    return {"done": EXIT_OK, "awaiting_approval": EXIT_PAUSED}.get(status, EXIT_FAILED)


@app.command()
def run(
    request: Annotated[str, typer.Argument(help="The change request, or a .md/.txt file holding it.")] = "",
    repo: RepoOpt = Path("."),
    config: ConfigOpt = "local",
    auto: Annotated[bool, typer.Option("--auto", help="Skip all human approval gates.")] = False,
    spec_file: Annotated[Path | None, typer.Option(help="A filled precise-spec template (YAML).")] = None,
    model: Annotated[list[str], typer.Option("--model", "-m", help="Override a role's model: ROLE=MODEL.")] = [],  # noqa: B006
    budget: Annotated[float | None, typer.Option(help="Cost cap in USD for this run.")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Reruns per phase and loop-backs.")] = None,
    no_task_loop: Annotated[bool, typer.Option("--no-task-loop", help="Generate all tasks, then verify.")] = False,
    run_id: Annotated[str | None, typer.Option(help="Use this run id (default: random).")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Phase profile, e.g. fast-forward (skips explore, design).")
    ] = None,
    prompts: Annotated[Path | None, typer.Option(help="Folder of .md prompts overriding built-in ones.")] = None,
) -> None:
    """Run a change through all nine phases against REPO."""
    from sdd_harness.graph.core.config import ConfigError, load_config

    try:
        cfg = load_config(config)
        template = load_spec_template(spec_file) if spec_file else None
        text = read_request(request) if request else template_request(template)
        if not text.strip():
            raise fail("give a change request (text or a .md file) or --spec-file")
        if not repo.is_dir():
            raise fail(f"--repo {repo}: not a folder")
        run_update: dict[str, Any] = {"task_loop": False} if no_task_loop else {}
        if profile:
            run_update["profile"] = profile
        if run_update:
            cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update=run_update)})
        if profile and profile not in cfg.profiles:
            raise fail(f"--profile {profile!r}: unknown; allowed: {', '.join(sorted(cfg.profiles))}")
        if prompts and not prompts.is_dir():
            raise fail(f"--prompts {prompts}: not a folder")
        overrides = parse_overrides(model)
        check_keys(cfg, overrides)
    except ConfigError as err:
        raise fail(str(err)) from None
    from sdd_harness.graph.core.context import Context
    from sdd_harness.graph.entry.api import run_change

    context = Context(repo=str(repo.resolve()), auto_approve=auto, budget_usd=budget, max_attempts=max_attempts)
    approver = None if auto or not sys.stdin.isatty() else terminal_approver
    result = guarded(
        lambda: run_change(
            text,
            repo,
            cfg,
            models=overrides,
            context=context,
            approver=approver,
            spec_template=template,
            run_id=run_id,
            on_event=Progress(),
            prompt_dir=prompts,
        )
    )
    finish(result)


def guarded(call: Any) -> Any:
    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.api import RunError

    try:
        return call()
    except (ConfigError, RunError) as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail(
            "interrupted; the run is checkpointed — `sdd runs` lists it, `sdd resume <id>` continues it", EXIT_FAILED
        ) from None


def finish(result: Any) -> None:
    print_summary(result)
    if result.status == "awaiting_approval":
        print(
            f"paused for approval after {result.interrupt.get('phase')}: "
            f"sdd resume {result.run_id} --answer approve|'reject: <feedback>'|stop"
        )
    raise typer.Exit(exit_code(result.status))


def check_keys(cfg: Any, overrides: dict[str, str]) -> None:
    from sdd_harness.graph.core.models import ModelRegistry

    ModelRegistry(cfg, overrides).check_keys()


def load_spec_template(path: Path) -> dict[str, Any]:
    from sdd_harness.graph.core.spec_template import load_template

    return load_template(path)


def template_request(template: dict[str, Any] | None) -> str:
    return f"{template['task']} (in {template['file']})" if template else ""


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id (see `sdd runs`).")],
    repo: RepoOpt = Path("."),
    config: Annotated[str | None, typer.Option("--config", "-c", help="Must be the run's config.")] = None,
    answer: Annotated[str | None, typer.Option(help="Approval answer: approve, 'reject: why', stop.")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Skip remaining approval gates.")] = False,
    budget: Annotated[float | None, typer.Option(help="New cost cap in USD.")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="New attempt bound.")] = None,
) -> None:
    """Continue a stopped, crashed or paused run from its last checkpoint."""
    from sdd_harness.graph.entry.api import resume_run

    overrides: dict[str, Any] = {"auto_approve": True} if auto else {}
    overrides.update({k: v for k, v in (("budget_usd", budget), ("max_attempts", max_attempts)) if v is not None})
    approver = None if auto or not sys.stdin.isatty() else terminal_approver
    result = guarded(
        lambda: resume_run(
            run_id, repo, config, answer=answer, overrides=overrides, approver=approver, on_event=Progress()
        )
    )
    finish(result)


@app.command()
def runs(repo: RepoOpt = Path(".")) -> None:
    """List runs recorded in REPO with their status."""
    from sdd_harness.graph.entry.api import list_runs

    found = list_runs(repo)
    if not found:
        print(f"no runs in {repo.resolve()}")
        return
    for run_id, meta in sorted(found.items(), key=lambda kv: kv[1].get("started", "")):
        reason = f"  ({meta['reason'][:80]})" if meta.get("reason") and meta.get("status") != "done" else ""
        request = meta.get("request", "")[:60]
        print(f"{run_id}  {meta.get('status', '?'):<18} {meta.get('started', '')}  {request!r}{reason}")


@app.command()
def graph(config: ConfigOpt = "local") -> None:
    """Print the graph as a Mermaid diagram (every phase, the orchestrator and every loop-back edge)."""
    from sdd_harness.graph.core.builder import build_graph
    from sdd_harness.graph.core.config import ConfigError

    try:
        compiled = build_graph(config)
    except ConfigError as err:
        raise fail(str(err)) from None
    print(compiled.get_graph().draw_mermaid())


@app.command()
def models(
    config: ConfigOpt = "local",
    check: Annotated[
        bool, typer.Option("--check", help="Make one tiny call per role: requested vs served model, latency, $.")
    ] = False,
) -> None:
    """Show which model serves each phase, on which provider, at what price (--check: ask each one)."""
    from sdd_harness.graph.core.config import ConfigError, load_config
    from sdd_harness.graph.core.usage import Pricer

    try:
        cfg = load_config(config)
    except ConfigError as err:
        raise fail(str(err)) from None
    if check:
        print_model_checks(cfg)
        return
    pricer = Pricer(cfg)
    for role, binding in cfg.roles().items():
        provider = cfg.provider_name(binding)
        rates = pricer.rates(binding.model, provider)
        price = "unknown" if rates is None else f"${rates[0] * 1e6:.3f}/${rates[2] * 1e6:.3f} per Mtok"
        extras = ", ".join(f"{k}={v}" for k, v in (("reasoning", binding.reasoning), ("mode", binding.mode)) if v)
        print(f"{role:<13} {provider:<12} {cfg.model_id(binding.model, provider):<32} {price:<28} {extras}")


def print_model_checks(cfg: Any) -> None:
    """`sdd models --check`: a table of one tiny call per role; exit 1 if any role failed."""
    from rich.table import Table

    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.entry.modelcheck import CHECK_COLUMNS, check_models, render_rows

    try:
        checks = check_models(cfg)
    except ConfigError as err:
        raise fail(str(err)) from None
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
    failed = [c.role for c in checks if not c.ok]
    if failed:
        out.print(f"failed: {', '.join(failed)}")
        raise typer.Exit(EXIT_FAILED)


@app.command()
def demo(
    config: ConfigOpt = "local",
    keep: Annotated[Path | None, typer.Option(help="Scratch folder (default: a new temp dir).")] = None,
) -> None:
    """Run the bundled example change on a scratch copy of examples/demo-repo."""
    root = Path(__file__).resolve().parents[2] / "examples"
    scratch = (keep or Path(tempfile.mkdtemp(prefix="sdd-demo-"))) / "demo-repo"
    shutil.copytree(root / "demo-repo", scratch, dirs_exist_ok=True)
    print(f"scratch copy: {scratch}")
    run(
        request=str(root / "demo-request.md"),
        repo=scratch,
        config=config,
        auto=True,
        spec_file=None,
        model=[],
        budget=None,
        max_attempts=None,
        no_task_loop=False,
        run_id=None,
        profile=None,
        prompts=None,
    )


@app.command("eval")
def eval_cmd(
    tasks_dir: Annotated[Path, typer.Argument(help="Task suite folder (or one task folder).")] = Path("examples/tasks"),
    config: Annotated[
        list[str], typer.Option("--config", "-c", help="Config to measure; repeat to compare several.")
    ] = ["local"],  # noqa: B006
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also run the one-shot baseline with each config's sdd-apply model.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Runs in parallel (1 for embedded models).")] = 1,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for eval-results.json, eval-report.md, work/.")
    ] = Path("eval-out"),
    task: Annotated[list[str], typer.Option("--task", "-t", help="Only these task names (repeat).")] = [],  # noqa: B006
    timeout: Annotated[float, typer.Option(help="Timeout in seconds for each acceptance pytest run.")] = 300.0,
    run_timeout: Annotated[float | None, typer.Option(help="Timeout in seconds for each harness run.")] = None,
) -> None:
    """Measure configs on a task suite (hidden acceptance tests), optionally against a one-shot baseline."""
    from sdd_harness.graph.entry.evaluate import eval_command

    raise typer.Exit(
        eval_command(
            tasks_dir,
            config,
            baseline,
            jobs,
            out,
            only=task or None,
            accept_timeout_s=timeout,
            run_timeout_s=run_timeout,
        )
    )


def main() -> None:
    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
    app()


if __name__ == "__main__":
    main()
