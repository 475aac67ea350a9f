"""`sdd eval`: measure phase maps on a task suite, optionally against a one-shot baseline with the same model.

A task is a folder with ``repo/`` (the starting code), ``task.md`` (the change request) and ``accept/`` (hidden
acceptance tests); ``solution/`` is optional and never used here. For every task x config (x mode), a fresh copy
of ``repo/`` gets the change — by the whole pipeline (``arun_change``) or by the one-shot baseline
(``graph.oneshot``) — and only then are ``accept/`` copied in and run with pytest. A run is *resolved* when
that acceptance run exits 0.

    from graph.evaluate import load_tasks, make_arms, EvalSuite, write_outputs
    suite = EvalSuite(load_tasks("examples/tasks"), make_arms(["local"], baseline=True), out_dir="eval-out")
    run = asyncio.run(suite.run())
    write_outputs(run, "eval-out/eval-results.json", "eval-out/eval-report.md")
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from graph.config import ConfigError, HarnessConfig, load_config
from graph.models import ModelOverride

Mode = Literal["pipeline", "one-shot"]
RESULTS_JSON = "eval-results.json"
REPORT_MD = "eval-report.md"
WORK_DIR = "work"
ACCEPT_DIR = "accept"
DEFAULT_ACCEPT_TIMEOUT_S = 300.0
OUTPUT_TAIL = 3000
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc", ".sdd", ".ruff_cache")
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED)\s+(\S+::\S+)", re.MULTILINE)
_COLLECT_ERROR = re.compile(r"^ERROR\s+(\S+\.py)(?:\s|$)", re.MULTILINE)


class EvalError(Exception):
    """A task suite or task folder that cannot be evaluated; the message names the folder and the problem."""


# --------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class EvalTask:
    """One evaluation task. ``solution`` is recorded for reference only: the harness never sees it."""

    name: str
    root: Path
    request: str
    repo: Path
    accept: Path
    accept_files: tuple[str, ...]
    solution: Path | None = None


def task_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from being a task (empty list: it is one)."""
    problems = []
    if not (folder / "repo").is_dir():
        problems.append("missing repo/ (the starting repository)")
    elif (folder / "repo" / ACCEPT_DIR).exists():
        problems.append("repo/ contains accept/ (acceptance tests belong only in the task's accept/)")
    request = folder / "task.md"
    if not request.is_file():
        problems.append("missing task.md (the change request)")
    elif not request.read_text(encoding="utf-8", errors="replace").strip():
        problems.append("task.md is empty")
    accept = folder / ACCEPT_DIR
    if not accept.is_dir():
        problems.append("missing accept/ (the hidden acceptance tests)")
    elif not acceptance_files(accept):
        problems.append("accept/ has no test files (test_*.py or *_test.py)")
    return problems


def acceptance_files(accept: Path) -> list[str]:
    return sorted(
        p.relative_to(accept).as_posix()
        for p in accept.rglob("*.py")
        if (p.name.startswith("test_") or p.name.endswith("_test.py")) and "__pycache__" not in p.parts
    )


def load_task(folder: str | os.PathLike[str]) -> EvalTask:
    """Load one task folder; ``EvalError`` names the folder and everything that is missing."""
    path = Path(folder).resolve()
    if not path.is_dir():
        raise EvalError(f"{path}: not a folder (expected a task with repo/, task.md and accept/)")
    problems = task_problems(path)
    if problems:
        raise EvalError(f"task folder {path}: " + "; ".join(problems))
    solution = path / "solution"
    return EvalTask(
        name=path.name,
        root=path,
        request=(path / "task.md").read_text(encoding="utf-8").strip(),
        repo=path / "repo",
        accept=path / ACCEPT_DIR,
        accept_files=tuple(acceptance_files(path / ACCEPT_DIR)),
        solution=solution if solution.is_dir() else None,
    )


def load_tasks(tasks_dir: str | os.PathLike[str], only: list[str] | None = None) -> list[EvalTask]:
    """A suite folder (every non-hidden sub-folder is a task) or a single task folder.

    Bad task folders are all reported at once, each with what it is missing.
    """
    root = Path(tasks_dir).resolve()
    if not root.is_dir():
        raise EvalError(f"{root}: tasks folder does not exist")
    if (root / "task.md").is_file() or (root / ACCEPT_DIR).is_dir():
        folders = [root]
    else:
        folders = sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "__pycache__"
        )
    if only:
        unknown = sorted(set(only) - {f.name for f in folders})
        if unknown:
            known = ", ".join(f.name for f in folders) or "none"
            raise EvalError(f"{root}: unknown task(s) {', '.join(unknown)}; tasks here: {known}")
        folders = [f for f in folders if f.name in only]
    if not folders:
        raise EvalError(f"{root}: no task folders (each needs repo/, task.md and accept/)")
    bad = [f"{f}: {'; '.join(p)}" for f in folders if (p := task_problems(f))]
    if bad:
        raise EvalError("bad task folder(s):\n  " + "\n  ".join(bad))
    return [load_task(f) for f in folders]


# --------------------------------------------------------------------------------------------- arms


@dataclass(frozen=True)
class Arm:
    """One thing being measured: a config run as the full pipeline or as the one-shot baseline."""

    label: str
    mode: Mode
    config: HarnessConfig
    ref: str

    @property
    def key(self) -> str:
        return f"{self.label}/{self.mode}"

    @property
    def uses_embedded(self) -> bool:
        roles = self.config.roles()
        bindings = roles.values() if self.mode == "pipeline" else [roles["sdd-apply"]]
        return any(self.config.provider_of(b).embedded for b in bindings)


def config_label(ref: str | os.PathLike[str]) -> str:
    path = Path(ref)
    return path.stem if path.suffix in (".yaml", ".yml") else path.name


def make_arms(configs: list[str | os.PathLike[str] | HarnessConfig], baseline: bool = False) -> list[Arm]:
    """Pipeline arms for each config, plus a one-shot arm per config when ``baseline`` (ConfigError on bad ones)."""
    if not configs:
        raise EvalError("give at least one config to evaluate")
    arms: list[Arm] = []
    seen: dict[str, int] = {}
    for ref in configs:
        cfg = ref if isinstance(ref, HarnessConfig) else load_config(ref)
        base = config_label(cfg.source_file if isinstance(ref, HarnessConfig) else ref)
        seen[base] = seen.get(base, 0) + 1
        label = base if seen[base] == 1 else f"{base}-{seen[base]}"
        arms.append(Arm(label, "pipeline", cfg, str(ref if not isinstance(ref, HarnessConfig) else cfg.source_file)))
        if baseline:
            arms.append(Arm(label, "one-shot", cfg, arms[-1].ref))
    return arms


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
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
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


# --------------------------------------------------------------------------------------------- runner

ModelsFactory = Callable[["EvalTask", Arm, Path], Mapping[str, ModelOverride] | None]
ModelsArg = Mapping[str, ModelOverride] | ModelsFactory | None
Progress = Callable[[dict[str, Any]], None]


def fresh_copy(task: EvalTask, work: Path) -> Path:
    """A clean copy of repo/ only: accept/ and solution/ never enter the work dir before the run ends."""
    if work.exists():
        shutil.rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(task.repo, work, ignore=_IGNORE)
    return work


def _models_for(models: ModelsArg, task: EvalTask, arm: Arm, work: Path) -> Mapping[str, ModelOverride] | None:
    if models is None or isinstance(models, Mapping):
        return models
    return models(task, arm, work)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _pipeline_fields(result: Any) -> dict[str, Any]:
    return {
        "status": result.status,
        "reason": (result.reason or "")[:500],
        "run_id": result.run_id,
        "report_path": str(result.report_path) if result.report_path else None,
        **_state_fields(result.report or {}, result.state or {}),
    }


def _state_fields(report: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    attempts = dict(state.get("attempts") or {})
    apply_out = (state.get("outputs") or {}).get("sdd-apply") or {}
    return {
        "loopbacks": sum(1 for d in report.get("decisions", []) if str(d.get("action", "")).startswith("back_to_")),
        "attempts": attempts,
        "retries": sum(max(0, n - 1) for n in attempts.values()),
        "changed": list(apply_out.get("changed") or []),
        **_usage_fields(report.get("phases") or [], report.get("totals") or {}),
    }


async def checkpointed_fields(
    work: Path, config: HarnessConfig, models: Mapping[str, ModelOverride] | None, run_id: str
) -> dict[str, Any]:
    """Usage of a pipeline run that crashed or timed out, from its last checkpoint (finished phases only)."""
    from graph.api import sqlite_checkpointer
    from graph.builder import build_graph
    from graph.report import build_report

    if not (work / ".sdd" / "checkpoints.sqlite").is_file():
        return {}
    async with sqlite_checkpointer(work) as saver:
        graph = build_graph(config, models=models, checkpointer=saver)
        values = (await graph.aget_state({"configurable": {"thread_id": run_id}})).values or {}
    return _state_fields(build_report(values), values) if values else {}


def _usage_fields(phase_rows: list[dict[str, Any]], totals: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("calls", "input_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "seconds")
    return {
        "phases": {row["phase"]: {k: row.get(k) or 0 for k in keys} for row in phase_rows},
        "calls": int(totals.get("calls", 0) or 0),
        "input_tokens": int(totals.get("input_tokens", 0) or 0),
        "output_tokens": int(totals.get("output_tokens", 0) or 0),
        "reasoning_tokens": int(totals.get("reasoning_tokens", 0) or 0),
        "cost_usd": float(totals.get("cost_usd", 0) or 0.0),
    }


async def run_one(
    task: EvalTask,
    arm: Arm,
    work: Path,
    *,
    models: ModelsArg = None,
    accept_timeout_s: float = DEFAULT_ACCEPT_TIMEOUT_S,
    run_timeout_s: float | None = None,
    progress: Progress | None = None,
) -> RunRecord:
    """Fresh copy, the change (pipeline or one-shot), then the hidden acceptance tests. Never raises on a
    crash of the run itself: the error is recorded and the acceptance tests still measure what was left."""
    emit = progress or (lambda event: None)
    record = RunRecord(task=task.name, config=arm.label, mode=arm.mode, arm=arm.key, work_dir=str(work))
    run_id = f"eval-{_slug(task.name)[:24]}-{uuid.uuid4().hex[:8]}"
    record.run_id = run_id
    emit({"event": "run_start", "task": task.name, "arm": arm.key, "work": str(work)})
    record.started_at = time.time()
    started = time.perf_counter()
    overrides: Mapping[str, ModelOverride] | None = None
    try:
        await asyncio.to_thread(fresh_copy, task, work)
        overrides = _models_for(models, task, arm, work)
        change = _change(task, arm, work, overrides, run_id, emit)
        fields = await (asyncio.wait_for(change, run_timeout_s) if run_timeout_s else change)
        for key, value in fields.items():
            setattr(record, key, value)
    except TimeoutError:
        record.status, record.error = "timeout", f"the run did not finish within {run_timeout_s:.0f} s"
    except Exception as err:  # noqa: BLE001 - one task's crash is its own failure, the suite goes on
        record.status, record.error = "error", f"{type(err).__name__}: {str(err)[:800]}"
    record.seconds = round(time.perf_counter() - started, 3)
    if record.error and arm.mode == "pipeline":
        try:
            recovered = await checkpointed_fields(work, arm.config, overrides, run_id)
        except Exception as err:  # noqa: BLE001 - best effort: the record keeps its error either way
            recovered, record.notes = {}, [*record.notes, f"no usage recovered: {type(err).__name__}: {err}"]
        for key, value in recovered.items():
            setattr(record, key, value)
        if recovered:
            record.notes.append("tokens/cost from the last checkpoint: the phase in progress is not counted")
    try:
        fields, notes = await run_acceptance(task, work, accept_timeout_s)
        for key, value in fields.items():
            setattr(record, key, value)
        record.notes += notes
    except Exception as err:  # noqa: BLE001
        record.notes.append(f"acceptance run failed: {type(err).__name__}: {err}")
        record.resolved = False
    if record.error:
        record.resolved = False  # a crashed run never counts as resolved, whatever it left behind
    record.finished_at = time.time()
    emit({"event": "run_end", "task": task.name, "arm": arm.key, "record": record})
    return record


async def _change(
    task: EvalTask,
    arm: Arm,
    work: Path,
    models: Mapping[str, ModelOverride] | None,
    run_id: str,
    emit: Progress,
) -> dict[str, Any]:
    if arm.mode == "one-shot":
        from graph.oneshot import arun_one_shot

        shot = await arun_one_shot(task.request, work, arm.config, models=models)
        rows = shot.phases
        return {
            "status": shot.status,
            "reason": shot.reason,
            "changed": shot.changed,
            "refusals": shot.refusals,
            "attempts": {"one-shot": 1},
            **_usage_fields(rows, shot.totals),
        }
    from graph.api import arun_change

    def on_event(event: dict[str, Any]) -> None:
        emit({**event, "phase_event": event.get("event"), "event": "phase", "task": task.name, "arm": arm.key})

    result = await arun_change(
        task.request, work, arm.config, models=models, auto_approve=True, run_id=run_id, on_event=on_event
    )
    return _pipeline_fields(result)


def write_outputs(run: EvalRun, json_path: str | os.PathLike[str], md_path: str | os.PathLike[str]) -> None:
    """Write ``eval-results.json`` (every record + totals per arm) and the markdown report, atomically."""
    data = run.model_dump()
    data["results"] = [r.model_dump() for r in run.ordered()]
    data["summary"] = summaries(run)
    for path, text in ((Path(json_path), json.dumps(data, indent=2)), (Path(md_path), render_markdown(run))):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


class EvalSuite:
    """Runs every task x arm (``jobs`` at a time), keeps what finished, writes results as it goes.

    ``run()`` is cancel-safe: on cancellation (Ctrl-C under ``asyncio.run``) the unfinished runs are stopped,
    the finished ones are written with ``interrupted: true``, and the cancellation propagates.
    """

    def __init__(
        self,
        tasks: list[EvalTask],
        arms: list[Arm],
        out_dir: str | os.PathLike[str],
        *,
        jobs: int = 1,
        models: ModelsArg = None,
        accept_timeout_s: float = DEFAULT_ACCEPT_TIMEOUT_S,
        run_timeout_s: float | None = None,
        progress: Progress | None = None,
        json_path: str | os.PathLike[str] | None = None,
        md_path: str | os.PathLike[str] | None = None,
        tasks_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.tasks, self.arms = tasks, arms
        self.out_dir = Path(out_dir).resolve()
        self.json_path = Path(json_path) if json_path else self.out_dir / RESULTS_JSON
        self.md_path = Path(md_path) if md_path else self.out_dir / REPORT_MD
        self.models = models
        self.accept_timeout_s, self.run_timeout_s = accept_timeout_s, run_timeout_s
        self.progress = progress
        notes = []
        self.jobs = max(1, int(jobs))
        if self.jobs > 1 and any(a.uses_embedded for a in arms):
            notes.append(
                f"--jobs {self.jobs} lowered to 1: embedded llama.cpp servers are shared by the whole process "
                "and stopped at the end of every run"
            )
            self.jobs = 1
        root = Path(tasks_dir).resolve() if tasks_dir else (tasks[0].root.parent if tasks else Path("."))
        self.state = EvalRun(
            tasks_dir=str(root),
            tasks=[t.name for t in tasks],
            arms=[a.key for a in arms],
            configs={a.label: a.ref for a in arms},
            jobs=self.jobs,
            started=time.strftime("%Y-%m-%dT%H:%M:%S"),
            notes=notes,
        )

    def work_dir(self, task: EvalTask, arm: Arm) -> Path:
        return self.out_dir / WORK_DIR / _slug(arm.key) / _slug(task.name)

    def _save(self) -> None:
        write_outputs(self.state, self.json_path, self.md_path)

    async def run(self) -> EvalRun:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        work_root = self.out_dir / WORK_DIR
        work_root.mkdir(parents=True, exist_ok=True)
        (work_root / ".gitignore").write_text("*\n", encoding="utf-8")
        self._save()
        gate = asyncio.Semaphore(self.jobs)

        async def one(task: EvalTask, arm: Arm) -> None:
            async with gate:
                record = await run_one(
                    task,
                    arm,
                    self.work_dir(task, arm),
                    models=self.models,
                    accept_timeout_s=self.accept_timeout_s,
                    run_timeout_s=self.run_timeout_s,
                    progress=self.progress,
                )
            self.state.results.append(record)
            await asyncio.to_thread(self._save)

        pending = [asyncio.create_task(one(t, a)) for t in self.tasks for a in self.arms]
        try:
            await asyncio.gather(*pending)
            self.state.complete = True
        except BaseException:
            self.state.interrupted = True
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise
        finally:
            self.state.finished = time.strftime("%Y-%m-%dT%H:%M:%S")
            if any(a.uses_embedded for a in self.arms):
                from graph.embedded import get_servers

                get_servers().stop_all()
            self._save()
        return self.state


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
            acc = rows.setdefault(phase, [0, 0])
            acc[0] += int(row.get("input_tokens", 0))
            acc[1] += int(row.get("output_tokens", 0))
    if not phases:
        return []
    arms = [a for a in run.arms if a in by_arm]
    lines = ["", "## Tokens by phase (input / output, summed over tasks)", ""]
    lines += ["| Phase | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for phase in phases:
        cells = [by_arm[a].get(phase) for a in arms]
        lines.append(f"| {phase} | " + " | ".join(f"{c[0]} / {c[1]}" if c else "-" for c in cells) + " |")
    return lines


def console() -> Any:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=160, soft_wrap=True, no_color=True)


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
    models: ModelsArg = None,
    quiet: bool = False,
) -> int:
    """`sdd eval`: run the suite, print the table, write eval-results.json + eval-report.md into ``out_dir``.

    Exit codes: 0 every run finished (resolved or not), 1 some run crashed or timed out, 2 bad input
    (task folder, config), 130 interrupted (finished runs are still written and shown).
    """
    out = console()
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
    return code


__all__ = [
    "Arm",
    "EvalError",
    "EvalRun",
    "EvalSuite",
    "EvalTask",
    "RunRecord",
    "eval_command",
    "load_task",
    "load_tasks",
    "make_arms",
    "print_table",
    "render_markdown",
    "run_eval",
    "run_one",
    "summarize",
    "write_outputs",
]
