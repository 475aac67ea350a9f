"""Entry points: ``run_eval`` for scripts and ``eval_command`` for `sdd eval` (exit codes, Ctrl-C)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from sdd_harness.graph.core.config import ConfigError
from sdd_harness.graph.entry.evaluate.results import EvalRun, ProgressPrinter, console, print_table, summaries
from sdd_harness.graph.entry.evaluate.runner import EvalSuite, ModelsArg, Progress
from sdd_harness.graph.entry.evaluate.tasks import (
    DEFAULT_ACCEPT_TIMEOUT_S,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EvalError,
    load_tasks,
    make_arms,
)

# --------------------------------------------------------------------------------------------- entry points


def run_eval(
    tasks_dir: str | os.PathLike[str],
    configs: list[str],
    *,
    baseline: bool = False,
    jobs: int = 1,
    out_dir: str | os.PathLike[str] = "eval-out",
    only: list[str] | None = None,
    models: ModelsArg = None,
    accept_timeout_s: float = DEFAULT_ACCEPT_TIMEOUT_S,
    run_timeout_s: float | None = None,
    time_budget_s: float | None = None,
    progress: Progress | None = None,
    json_path: str | os.PathLike[str] | None = None,
    md_path: str | os.PathLike[str] | None = None,
) -> EvalRun:
    """Script API: load, run and write everything; raises EvalError/ConfigError on bad input and
    KeyboardInterrupt on Ctrl-C (after writing the partial results)."""
    suite = EvalSuite(
        load_tasks(tasks_dir, only),
        make_arms(list(configs), baseline),
        out_dir,
        jobs=jobs,
        models=models,
        accept_timeout_s=accept_timeout_s,
        run_timeout_s=run_timeout_s,
        time_budget_s=time_budget_s,
        progress=progress,
        json_path=json_path,
        md_path=md_path,
        tasks_dir=tasks_dir,
    )
    return asyncio.run(suite.run())


def eval_command(
    tasks_dir: str | os.PathLike[str],
    configs: list[str],
    baseline: bool,
    jobs: int,
    out_dir: str | os.PathLike[str],
    *,
    only: list[str] | None = None,
    accept_timeout_s: float = DEFAULT_ACCEPT_TIMEOUT_S,
    run_timeout_s: float | None = None,
    time_budget_s: float | None = None,
    models: ModelsArg = None,
    quiet: bool = False,
    json_out: bool = False,
) -> int:
    """`sdd eval`: run the suite, print the table, write eval-results.json + eval-report.md into ``out_dir``.

    Exit codes: 0 every run finished (resolved or not), 1 some run crashed or timed out, 2 bad input
    (task folder, config), 130 interrupted (finished runs are still written and shown). ``json_out``: the
    human output goes to stderr and stdout gets one JSON document (keys: see ``eval_document``).
    """
    out = console(sys.stderr if json_out else None)
    try:
        tasks = load_tasks(tasks_dir, only)
        arms = make_arms(list(configs) or ["local"], baseline)
    except (EvalError, ConfigError) as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_BAD_INPUT
    suite = EvalSuite(
        tasks,
        arms,
        out_dir,
        jobs=jobs,
        models=models,
        accept_timeout_s=accept_timeout_s,
        run_timeout_s=run_timeout_s,
        time_budget_s=time_budget_s,
        progress=None if quiet else ProgressPrinter(out),
        tasks_dir=tasks_dir,
    )
    for note in suite.state.notes:
        out.print(f"note: {note}", markup=False)
    out.print(
        f"eval: {len(tasks)} task(s) x {len(arms)} arm(s) ({', '.join(a.key for a in arms)}), jobs {suite.jobs}, "
        f"output {suite.out_dir}",
        markup=False,
    )
    code = EXIT_OK
    try:
        asyncio.run(suite.run())
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    print_table(suite.state, out)
    if code == EXIT_INTERRUPTED:
        out.print(f"interrupted: {len(suite.state.results)} finished run(s) written", markup=False)
    elif any(r.error for r in suite.state.results):
        code = EXIT_FAILED
    out.print(f"results: {suite.json_path}\nreport:  {suite.md_path}", markup=False)
    if json_out:
        print(json.dumps(eval_document(suite, code), indent=2, default=str))
    return code


def eval_document(suite: EvalSuite, code: int) -> dict[str, Any]:
    """`sdd eval --json`: where the files are, the totals per arm, and every finished run (without pytest output)."""
    state = suite.state
    return {
        "version": 1,
        "exit_code": code,
        "interrupted": code == EXIT_INTERRUPTED,
        "results_json": str(suite.json_path),
        "report_md": str(suite.md_path),
        "tasks": state.tasks,
        "arms": state.arms,
        "summaries": summaries(state),
        "runs": [r.model_dump(exclude={"accept_output"}) for r in state.ordered()],
    }
