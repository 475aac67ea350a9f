"""What a run of the suite produced: per-run records, summaries, and the markdown / console reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.entry.evaluate.tasks import Mode

# --------------------------------------------------------------------------------------------- results


class RunRecord(BaseModel):
    """One task x arm: did it resolve, how far the acceptance tests got, what it cost."""

    task: str
    config: str
    mode: Mode
    arm: str
    resolved: bool = False
    accept_passed: int = 0
    accept_total: int = 0
    accept_exit: int | None = None
    accept_outcomes: dict[str, str] = Field(default_factory=dict)
    accept_output: str = ""
    accept_seconds: float = 0.0
    repo_tests_ok: bool | None = None
    status: str = "error"
    reason: str = ""
    error: str | None = None
    loopbacks: int = 0
    attempts: dict[str, int] = Field(default_factory=dict)
    retries: int = 0
    phases: dict[str, dict[str, float]] = Field(default_factory=dict)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    run_id: str = ""
    work_dir: str = ""
    report_path: str | None = None
    changed: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class EvalRun(BaseModel):
    """A whole evaluation: settings, every finished record, and whether it was cut short."""

    tasks_dir: str
    tasks: list[str]
    arms: list[str]
    configs: dict[str, str]
    jobs: int
    started: str
    finished: str | None = None
    interrupted: bool = False
    complete: bool = False
    notes: list[str] = Field(default_factory=list)
    results: list[RunRecord] = Field(default_factory=list)

    def ordered(self) -> list[RunRecord]:
        tasks, arms = {t: i for i, t in enumerate(self.tasks)}, {a: i for i, a in enumerate(self.arms)}
        return sorted(self.results, key=lambda r: (tasks.get(r.task, 1 << 20), arms.get(r.arm, 1 << 20)))


def summarize(records: list[RunRecord]) -> dict[str, Any]:
    """Totals for one arm: resolve rate, acceptance tests, tokens, cost, minutes."""
    n = len(records)
    resolved = sum(r.resolved for r in records)
    return {
        "tasks": n,
        "resolved": resolved,
        "resolve_rate": round(resolved / n, 4) if n else 0.0,
        "accept_passed": sum(r.accept_passed for r in records),
        "accept_total": sum(r.accept_total for r in records),
        "repo_tests_ok": sum(1 for r in records if r.repo_tests_ok),
        "loopbacks": sum(r.loopbacks for r in records),
        "retries": sum(r.retries for r in records),
        "errors": sum(1 for r in records if r.error),
        "calls": sum(r.calls for r in records),
        "input_tokens": sum(r.input_tokens for r in records),
        "output_tokens": sum(r.output_tokens for r in records),
        "cost_usd": round(sum(r.cost_usd for r in records), 6),
        "minutes": round(sum(r.seconds for r in records) / 60, 2),
    }


def summaries(run: EvalRun) -> dict[str, dict[str, Any]]:
    return {arm: summarize([r for r in run.results if r.arm == arm]) for arm in run.arms}


# --------------------------------------------------------------------------------------------- reports


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "no")


def render_markdown(run: EvalRun) -> str:
    sums = summaries(run)
    state = "interrupted (partial results)" if run.interrupted else ("complete" if run.complete else "running")
    lines = [
        f"# Eval: {Path(run.tasks_dir).name}",
        "",
        f"- Tasks: {len(run.tasks)} from `{run.tasks_dir}`",
        f"- Configs: {', '.join(f'{k} (`{v}`)' for k, v in run.configs.items())}",
        f"- Started {run.started}, finished {run.finished or '-'}; jobs {run.jobs}; **{state}**",
        f"- Runs finished: {len(run.results)} of {len(run.tasks) * len(run.arms)}",
        *[f"- Note: {n}" for n in run.notes],
        "",
        "Resolved = the hidden acceptance tests (`accept/`) exit 0 after the run. Tokens are input + output over",
        "every model call of the run (the orchestrator's included); minutes are the run's wall time.",
        "",
        "## Totals per config",
        "",
        "| Config | Mode | Resolved | Rate | Accept tests | Repo tests ok | Loop-backs | Errors | In tok | Out tok "
        "| Cost $ | Minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in run.arms:
        s = sums[key]
        label, mode = key.rsplit("/", 1)
        lines.append(
            f"| {label} | {mode} | {s['resolved']}/{s['tasks']} | {s['resolve_rate']:.0%} | "
            f"{s['accept_passed']}/{s['accept_total']} | {s['repo_tests_ok']}/{s['tasks']} | {s['loopbacks']} | "
            f"{s['errors']} | {s['input_tokens']} | {s['output_tokens']} | {s['cost_usd']:.4f} | {s['minutes']:.1f} |"
        )
    lines += [
        "",
        "## Per task",
        "",
        "| Task | Config | Mode | Resolved | Accept | Status | Loop-backs | Retries | In tok | Out tok | Cost $ "
        "| Minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run.ordered():
        lines.append(
            f"| {r.task} | {r.config} | {r.mode} | {_mark(r.resolved)} | {r.accept_passed}/{r.accept_total} | "
            f"{r.status} | {r.loopbacks} | {r.retries} | {r.input_tokens} | {r.output_tokens} | {r.cost_usd:.4f} | "
            f"{r.seconds / 60:.1f} |"
        )
    lines += _phase_table(run)
    problems = [r for r in run.ordered() if r.error or r.refusals or r.notes or not r.resolved]
    if problems:
        lines += ["", "## Failures and notes", ""]
        for r in problems:
            detail = r.error or r.reason or r.status
            lines.append(f"- **{r.task}** ({r.arm}): {detail[:300]}")
            failing = [t for t, o in r.accept_outcomes.items() if o in ("FAILED", "ERROR")]
            if failing:
                lines.append(f"  - failing acceptance tests: {', '.join(f'`{t}`' for t in failing[:8])}")
            lines += [f"  - refused: {x[:200]}" for x in r.refusals[:4]]
            lines += [f"  - {x}" for x in r.notes]
            lines.append(f"  - work copy: `{r.work_dir}`")
    return "\n".join(lines) + "\n"


def _phase_table(run: EvalRun) -> list[str]:
    by_arm: dict[str, dict[str, list[int]]] = {}
    phases: list[str] = []
    for r in run.ordered():
        rows = by_arm.setdefault(r.arm, {})
        for phase, row in r.phases.items():
            if phase not in phases:
                phases.append(phase)
            acc = rows.setdefault(phase, [0, 0, 0, 0])
            acc[0] += int(row.get("input_tokens", 0))
            acc[1] += int(row.get("output_tokens", 0))
            acc[2] += int(row.get("calls", 0))
            acc[3] += int(row.get("capped_calls", 0))
    if not phases:
        return []
    arms = [a for a in run.arms if a in by_arm]
    lines = ["", "## Tokens by phase (input / output; replies cut at max_tokens / calls; summed over tasks)", ""]
    lines += ["| Phase | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for phase in phases:
        cells = [by_arm[a].get(phase) for a in arms]
        lines.append(
            f"| {phase} | " + " | ".join(f"{c[0]} / {c[1]}; capped {c[3]}/{c[2]}" if c else "-" for c in cells) + " |"
        )
    return lines


def console(stream: Any = None) -> Any:
    from rich.console import Console

    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, highlight=False, width=160, soft_wrap=True, no_color=True)


def print_table(run: EvalRun, out: Any = None) -> None:
    """The per-task table and the totals per config, on the terminal."""
    from rich.markup import escape
    from rich.table import Table

    out = out or console()
    table = Table(title=f"eval · {len(run.results)} run(s)" + (" · interrupted" if run.interrupted else ""))
    cols = ("task", "config", "mode", "resolved", "accept", "status", "loops", "in tok", "out tok", "cost $", "min")
    for col in cols:
        table.add_column(col, justify="left" if col in ("task", "config", "mode", "status") else "right")
    for r in run.ordered():
        table.add_row(
            escape(r.task),
            escape(r.config),
            r.mode,
            _mark(r.resolved),
            f"{r.accept_passed}/{r.accept_total}",
            escape(r.status),
            str(r.loopbacks),
            str(r.input_tokens),
            str(r.output_tokens),
            f"{r.cost_usd:.4f}",
            f"{r.seconds / 60:.1f}",
        )
    out.print(table)
    totals = Table(title="totals per config")
    for col in ("config", "mode", "resolved", "rate", "accept", "errors", "in tok", "out tok", "cost $", "min"):
        totals.add_column(col, justify="left" if col in ("config", "mode") else "right")
    for key, s in summaries(run).items():
        label, mode = key.rsplit("/", 1)
        totals.add_row(
            escape(label),
            mode,
            f"{s['resolved']}/{s['tasks']}",
            f"{s['resolve_rate']:.0%}",
            f"{s['accept_passed']}/{s['accept_total']}",
            str(s["errors"]),
            str(s["input_tokens"]),
            str(s["output_tokens"]),
            f"{s['cost_usd']:.4f}",
            f"{s['minutes']:.1f}",
        )
    out.print(totals)


class ProgressPrinter:
    """One line per run start/end and per phase start — enough to follow a long local run."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or console()

    def __call__(self, event: dict[str, Any]) -> None:
        kind, where = event.get("event"), f"[{event.get('task')} · {event.get('arm')}]"
        line = ""
        if kind == "run_start":
            line = f"{where} start in {event.get('work')}"
        elif kind == "run_end":
            r: RunRecord = event["record"]
            verdict = "RESOLVED" if r.resolved else "unresolved"
            extra = f" error: {r.error[:200]}" if r.error else ""
            line = (
                f"{where} {verdict}: accept {r.accept_passed}/{r.accept_total}, status {r.status}, "
                f"{r.tokens} tok, ${r.cost_usd:.4f}, {r.seconds:.0f}s{extra}"
            )
        elif kind == "phase" and event.get("phase_event") == "phase_start":
            attempt = f" (attempt {event['attempt']})" if event.get("attempt", 1) > 1 else ""
            line = f"{where}   > {event.get('phase')}{attempt}"
        elif kind == "phase" and event.get("phase_event") == "gate" and event.get("action") != "advance":
            line = f"{where}   gate {event.get('phase')}: {event.get('action')} -> {event.get('next')}"
        if line:
            self.out.print(line, markup=False, highlight=False)
