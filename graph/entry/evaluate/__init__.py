"""`sdd eval`: measure phase maps on a task suite, optionally against a one-shot baseline with the same model.

A task is a folder with ``repo/`` (the starting code), ``task.md`` (the change request) and ``accept/`` (hidden
acceptance tests); ``solution/`` is optional and never used here. For every task x config (x mode), a fresh copy
of ``repo/`` gets the change — by the whole pipeline (``arun_change``) or by the one-shot baseline
(``graph.entry.oneshot``) — and only then are ``accept/`` copied in and run with pytest. A run is *resolved* when
that acceptance run exits 0.

    from sdd_harness.graph.entry.evaluate import load_tasks, make_arms, EvalSuite, write_outputs
    suite = EvalSuite(load_tasks("examples/tasks"), make_arms(["local"], baseline=True), out_dir="eval-out")
    run = asyncio.run(suite.run())
    write_outputs(run, "eval-out/eval-results.json", "eval-out/eval-report.md")
"""

from __future__ import annotations

from sdd_harness.graph.entry.evaluate.acceptance import parse_outcomes, static_test_count
from sdd_harness.graph.entry.evaluate.command import eval_command, run_eval
from sdd_harness.graph.entry.evaluate.results import (
    EvalRun,
    ProgressPrinter,
    RunRecord,
    print_table,
    render_markdown,
    summarize,
)
from sdd_harness.graph.entry.evaluate.runner import EvalSuite, run_one, write_outputs
from sdd_harness.graph.entry.evaluate.tasks import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Arm,
    EvalError,
    EvalTask,
    load_task,
    load_tasks,
    make_arms,
)

__all__ = [
    "Arm",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EvalError",
    "EvalRun",
    "EvalSuite",
    "EvalTask",
    "ProgressPrinter",
    "RunRecord",
    "eval_command",
    "load_task",
    "load_tasks",
    "make_arms",
    "parse_outcomes",
    "print_table",
    "render_markdown",
    "run_eval",
    "run_one",
    "static_test_count",
    "summarize",
    "write_outputs",
]
