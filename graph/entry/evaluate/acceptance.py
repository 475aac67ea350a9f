"""Hidden acceptance tests: copied in after the change, run with pytest, counted per test."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdd_harness.graph.entry.evaluate.tasks import _IGNORE, ACCEPT_DIR, EvalTask
from sdd_harness.graph.infra.pyparse import parse_python

OUTPUT_TAIL = 3000
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED)\s+(\S+::\S+)", re.MULTILINE)
_COLLECT_ERROR = re.compile(r"^ERROR\s+(\S+\.py)(?:\s|$)", re.MULTILINE)

# --------------------------------------------------------------------------------------------- acceptance


@dataclass
class PytestRun:
    exit_code: int | None
    output: str
    seconds: float
    timed_out: bool = False


def pytest_env() -> dict[str, str]:
    """Plain pytest for task repos: no outer-pytest variables, no harness PYTHONPATH, no plugin autoload."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "PYTHONPATH"}
    env.update(PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return env


async def run_pytest(cwd: Path, args: list[str], timeout_s: float) -> PytestRun:
    """``python -m pytest -q -p no:cacheprovider -rA ARGS`` in ``cwd``; the process group dies on timeout/cancel."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *args]
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=pytest_env(),
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        return PytestRun(None, f"timed out after {timeout_s:.0f} s", round(time.perf_counter() - start, 3), True)
    except BaseException:
        _kill(proc)
        raise
    return PytestRun(proc.returncode, out.decode("utf-8", "replace"), round(time.perf_counter() - start, 3))


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def parse_outcomes(output: str) -> dict[str, str]:
    """Per-test outcomes from ``-rA`` summary lines (PASSED/FAILED/ERROR/...)."""
    return {test_id: status for status, test_id in _OUTCOME.findall(output)}


def static_test_count(path: Path) -> int:
    """Tests a file defines, counting literal ``parametrize`` lists; the floor when collection fails."""
    try:
        tree = parse_python(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return 1
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            count += _param_cases(node)
    return count


def _param_cases(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    cases = 1
    for deco in node.decorator_list:
        if isinstance(deco, ast.Call) and ast.unparse(deco.func).endswith("parametrize") and len(deco.args) >= 2:
            values = deco.args[1]
            if isinstance(values, ast.List | ast.Tuple):
                cases *= max(1, len(values.elts))
    return cases


def acceptance_counts(task: EvalTask, outcomes: dict[str, str], exit_code: int | None) -> tuple[int, int]:
    """(passed, total); total never drops below what the files define, so a crash at import counts as 0/N."""
    passed = sum(1 for o in outcomes.values() if o in ("PASSED", "XFAIL"))
    static = sum(static_test_count(task.accept / rel) for rel in task.accept_files)
    total = max(len(outcomes), static)
    return (passed if exit_code is not None else 0), total


async def run_acceptance(task: EvalTask, work: Path, timeout_s: float) -> tuple[dict[str, Any], list[str]]:
    """Repo tests first (without accept/), then copy accept/ in and run it. Returns (fields, notes)."""
    notes = []
    repo_tests = await run_pytest(work, [], timeout_s)
    target = work / ACCEPT_DIR
    if target.exists():
        notes.append("the run created accept/ itself; it was replaced by the hidden tests")
        await asyncio.to_thread(shutil.rmtree, target)
    await asyncio.to_thread(shutil.copytree, task.accept, target, ignore=_IGNORE)
    accept = await run_pytest(work, [f"{ACCEPT_DIR}/"], timeout_s)
    outcomes = parse_outcomes(accept.output)
    passed, total = acceptance_counts(task, outcomes, accept.exit_code)
    if accept.timed_out:
        notes.append(f"acceptance tests timed out after {timeout_s:.0f} s")
    errors = _COLLECT_ERROR.findall(accept.output)
    if errors:
        notes.append("acceptance collection error(s) in " + ", ".join(dict.fromkeys(errors)))
    return {
        "resolved": accept.exit_code == 0,
        "accept_exit": accept.exit_code,
        "accept_outcomes": outcomes,
        "accept_passed": passed,
        "accept_total": total,
        "accept_output": accept.output[-OUTPUT_TAIL:],
        "accept_seconds": accept.seconds,
        # exit 5 = no tests collected: a repo without tests has nothing to break
        "repo_tests_ok": repo_tests.exit_code in (0, 5),
    }, notes
