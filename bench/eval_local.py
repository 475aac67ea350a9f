"""Pipeline vs one-shot on the example tasks with the embedded local Qwen models (configs/local.yaml).

    python bench/eval_local.py                              # all tasks in examples/tasks, both modes
    python bench/eval_local.py --task split-amount --run-timeout 900

Writes bench/eval-local.md and bench/eval-local.json (same content as `sdd eval`'s eval-report.md and
eval-results.json). The llama.cpp servers start on demand and are stopped after every run, so every run pays
its own model load, as a user's `sdd run` would. Runs are sequential: parallel real-model jobs on a small
machine only measure CPU contention. Ctrl-C stops cleanly and keeps the finished runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sdd_harness.graph.core.config import ConfigError  # noqa: E402
from sdd_harness.graph.entry.evaluate import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EvalError,
    EvalSuite,
    ProgressPrinter,
    load_tasks,
    make_arms,
    print_table,
)


def preflight(arms) -> list[str]:
    """Join/verify the GGUF files up front (clear error now, not after the first phases) and describe the map."""
    from sdd_harness.graph.infra.embedded import ensure_gguf, require_xllamacpp

    notes = []
    for arm in arms:
        cfg = arm.config
        used = sorted({b.model for b in cfg.roles().values() if cfg.provider_of(b).embedded})
        if used:
            require_xllamacpp()
            for name in used:
                ensure_gguf(name)
        apply = cfg.phases["sdd-apply"]
        notes.append(
            f"{arm.key}: "
            + ("one call to the sdd-apply model " if arm.mode == "one-shot" else "nine phases, ")
            + f"sdd-apply = {apply.model} (max_tokens {apply.max_tokens})"
        )
    cpus = os.cpu_count() or 0
    notes.append(f"machine: {cpus} CPU core(s), Python {sys.version.split()[0]}")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks-dir", type=Path, default=ROOT / "examples" / "tasks")
    parser.add_argument("--config", "-c", action="append", help="config(s) to measure (default: local)")
    parser.add_argument("--task", "-t", action="append", help="only these tasks (repeat)")
    parser.add_argument("--no-baseline", action="store_true", help="pipeline only, no one-shot baseline")
    parser.add_argument("--run-timeout", type=float, default=None, help="seconds per run (pipeline or one-shot)")
    parser.add_argument("--accept-timeout", type=float, default=300.0, help="seconds for each pytest run")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the work copies go (default: a temp dir)")
    parser.add_argument("--out-md", type=Path, default=ROOT / "bench" / "eval-local.md")
    parser.add_argument("--out-json", type=Path, default=ROOT / "bench" / "eval-local.json")
    args = parser.parse_args(argv)

    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
    try:
        tasks = load_tasks(args.tasks_dir, args.task)
        arms = make_arms(args.config or ["local"], baseline=not args.no_baseline)
        notes = preflight(arms)
    except (EvalError, ConfigError) as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_BAD_INPUT
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="sdd-eval-local-"))
    printer = ProgressPrinter()
    suite = EvalSuite(
        tasks,
        arms,
        work,
        jobs=1,
        accept_timeout_s=args.accept_timeout,
        run_timeout_s=args.run_timeout,
        progress=printer,
        json_path=args.out_json,
        md_path=args.out_md,
        tasks_dir=args.tasks_dir,
    )
    suite.state.notes += notes
    if args.run_timeout:
        suite.state.notes.append(f"run timeout {args.run_timeout:.0f} s per task and mode")
    arms_text = ", ".join(a.key for a in arms)
    printer.out.print(f"eval-local: {len(tasks)} task(s) x {arms_text}; work copies in {work}", markup=False)
    code = EXIT_OK
    try:
        asyncio.run(suite.run())
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    print_table(suite.state, printer.out)
    if code == EXIT_OK and any(r.error for r in suite.state.results):
        code = EXIT_FAILED
    printer.out.print(f"wrote {args.out_md} and {args.out_json}", markup=False)
    return code


if __name__ == "__main__":
    sys.exit(main())
