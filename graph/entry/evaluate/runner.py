"""Running the suite: one fresh repo copy per task x arm, pipeline or one-shot, crash-isolated."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sdd_harness.graph.core.config import HarnessConfig
from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.models import ModelOverride
from sdd_harness.graph.entry.evaluate.acceptance import run_acceptance
from sdd_harness.graph.entry.evaluate.results import EvalRun, RunRecord, render_markdown, summaries
from sdd_harness.graph.entry.evaluate.tasks import (
    _IGNORE,
    DEFAULT_ACCEPT_TIMEOUT_S,
    REPORT_MD,
    RESULTS_JSON,
    WORK_DIR,
    Arm,
    EvalTask,
)

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
    from sdd_harness.graph.core.builder import build_graph
    from sdd_harness.graph.core.report import build_report
    from sdd_harness.graph.entry.api import sqlite_checkpointer

    if not (work / ".sdd" / "checkpoints.sqlite").is_file():
        return {}
    async with sqlite_checkpointer(work) as saver:
        graph = build_graph(config, models=models, checkpointer=saver)
        values = (await graph.aget_state({"configurable": {"thread_id": run_id}})).values or {}
    return _state_fields(build_report(values), values) if values else {}


def _usage_fields(phase_rows: list[dict[str, Any]], totals: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("calls", "input_tokens", "output_tokens", "reasoning_tokens", "capped_calls", "cost_usd", "seconds")
    return {
        "phases": {row["phase"]: {k: row.get(k) or 0 for k in keys} for row in phase_rows},
        "calls": int(totals.get("calls", 0) or 0),
        "input_tokens": int(totals.get("input_tokens", 0) or 0),
        "output_tokens": int(totals.get("output_tokens", 0) or 0),
        "reasoning_tokens": int(totals.get("reasoning_tokens", 0) or 0),
        "cost_usd": float(totals.get("cost_usd", 0) or 0.0),
    }


RUN_BUDGET_SHARE = 0.8  # with a hard run timeout and no time budget: stop cleanly at 80 %, keeping the code


async def run_one(
    task: EvalTask,
    arm: Arm,
    work: Path,
    *,
    models: ModelsArg = None,
    accept_timeout_s: float = DEFAULT_ACCEPT_TIMEOUT_S,
    run_timeout_s: float | None = None,
    time_budget_s: float | None = None,
    progress: Progress | None = None,
) -> RunRecord:
    """Fresh copy, the change (pipeline or one-shot), then the hidden acceptance tests. Never raises on a
    crash of the run itself: the error is recorded and the acceptance tests still measure what was left.
    A pipeline run with ``run_timeout_s`` and no ``time_budget_s`` gets a budget of 80 % of it, so it stops
    itself with its best code written instead of being killed with nothing written."""
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
        budget = time_budget_s if time_budget_s is not None else run_timeout_s and RUN_BUDGET_SHARE * run_timeout_s
        change = _change(task, arm, work, overrides, run_id, emit, budget)
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
    time_budget_s: float | None = None,
) -> dict[str, Any]:
    if arm.mode == "one-shot":
        from sdd_harness.graph.entry.oneshot import arun_one_shot

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
    from sdd_harness.graph.entry.api import arun_change

    def on_event(event: dict[str, Any]) -> None:
        emit({**event, "phase_event": event.get("event"), "event": "phase", "task": task.name, "arm": arm.key})

    context = Context(repo=str(work), auto_approve=True, time_budget_s=time_budget_s)
    result = await arun_change(
        task.request, work, arm.config, models=models, context=context, run_id=run_id, on_event=on_event
    )
    return _pipeline_fields(result)


def write_outputs(run: EvalRun, json_path: str | os.PathLike[str], md_path: str | os.PathLike[str]) -> None:
    """Write ``eval-results.json`` (every record + totals per arm) and the markdown report, atomically."""
    data = run.model_dump()
    data["results"] = [r.model_dump() for r in run.ordered()]
    data["summary"] = summaries(run)
    for path, text in ((Path(json_path), json.dumps(data, indent=2)), (Path(md_path), render_markdown(run))):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # writers never share it
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
        time_budget_s: float | None = None,
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
        self.time_budget_s = time_budget_s
        self.progress = progress
        self._saving = threading.Lock()
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
        with self._saving:  # jobs that finish together save from different threads; the last one wins whole
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
                    time_budget_s=self.time_budget_s,
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
                from sdd_harness.graph.infra.embedded import get_servers

                get_servers().stop_all()
            self._save()
        return self.state
