"""Metric 1: harness overhead vs a bare LangGraph skeleton of the same topology, plus a cProfile breakdown.

Every harness run: nine phases, one verify -> apply loop-back (``DemoScript(impl_versions=[SLUGIFY_BUGGY,
SLUGIFY_OK])``, ``run.task_loop: false``), instant fakes, SQLite checkpoints with ``durability="sync"``, through
the public ``arun_change``. Two flavours:

- ``cheap``: ``run.verify_commands: [CHEAP_VERIFY]`` (a ``grep``, ~2 ms, still fails on the buggy code so the
  loop-back is real) — the orchestration-only number compared with the skeleton;
- ``pytest``: the init-detected ``python -m pytest -q`` — what a user's run costs, subprocess time shown apart.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import (
    CHEAP_VERIFY,
    REQUEST,
    ROOT,
    Events,
    Recorded,
    SubprocessClock,
    config,
    copy_demo,
    median,
    recording,
    scratch_dir,
)
from bench.skeleton import run_skeleton


def make_team(events: Events, sink: list[Recorded], latency: float = 0.0, loop_back: bool = True) -> dict[str, Any]:
    """The scripted team, every call recorded; ``loop_back`` scripts a buggy first implementation."""
    from tests.fakes.scripted import SLUGIFY_BUGGY, SLUGIFY_OK, DemoScript, team

    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK]) if loop_back else DemoScript())
    for role, fake in models.items():
        fake.responder = recording(fake.responder, events, sink, role)
        fake.latency_s = latency
    return models


async def harness_once(
    base: Path, flavour: str = "cheap", clock: SubprocessClock | None = None, latency: float = 0.0
) -> dict[str, Any]:
    from sdd_harness.graph.entry.api import arun_change

    repo = copy_demo(base / f"h{time.perf_counter_ns()}")
    run = {"task_loop": False, **({"verify_commands": [CHEAP_VERIFY]} if flavour == "cheap" else {})}
    cfg = config("opencode-go", run)
    events, sink = Events(), []
    models = make_team(events, sink, latency)
    before = clock.seconds if clock else 0.0
    start = time.perf_counter()
    result = await arun_change(REQUEST, repo, cfg, models=models, auto_approve=True, on_event=events)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "subprocess_seconds": (clock.seconds - before) if clock else 0.0,
        "status": result.status,
        "route": [d["next"] for d in result.report["decisions"]],
        "actions": [d["action"] for d in result.report["decisions"]],
        "recorded": sink,
        "report": result.report,
        "events": events,
    }


def replay_of(recorded: list[Recorded]) -> tuple[dict[tuple[str, int], list[list[Any]]], dict[str, list[str]]]:
    replay: dict[tuple[str, int], list[list[Any]]] = defaultdict(list)
    replies: dict[str, list[str]] = defaultdict(list)
    for rec in recorded:
        replay[rec.key].append(rec.messages)
        replies[rec.role].append(rec.reply)
    return dict(replay), dict(replies)


async def skeleton_once(base: Path, template: dict[str, Any]) -> float:
    from sdd_harness.graph.core.phases import BUILTIN_PHASES

    replay, replies = replay_of(template["recorded"])
    start = time.perf_counter()
    await run_skeleton(
        base / f"s{time.perf_counter_ns()}" / "checkpoints.sqlite",
        BUILTIN_PHASES,
        replay,
        replies,
        template["route"],
        REQUEST,
    )
    return time.perf_counter() - start


async def _measure(reps: int, pytest_reps: int, warmup: int) -> dict[str, Any]:
    base = scratch_dir()
    clock = SubprocessClock()
    with clock.patch():
        for _ in range(warmup):
            template = await harness_once(base, "cheap", clock)
            await skeleton_once(base, template)
        harness, harness_sub, skeleton = [], [], []
        for _ in range(reps):  # interleaved, so drift hits both alike
            run = await harness_once(base, "cheap", clock)
            harness.append(run["seconds"])
            harness_sub.append(run["subprocess_seconds"])
            skeleton.append(await skeleton_once(base, run))
        real, real_sub = [], []
        for _ in range(pytest_reps):
            run = await harness_once(base, "pytest", clock)
            real.append(run["seconds"])
            real_sub.append(run["subprocess_seconds"])
    net = [h - s for h, s in zip(harness, harness_sub, strict=True)]
    calls = template["report"]["totals"]["calls"]
    return {
        "reps": reps,
        "status": template["status"],
        "actions": template["actions"],
        "model_calls": calls,
        "harness_s": median(harness),
        "harness_subprocess_s": median(harness_sub),
        "harness_net_s": median(net),
        "skeleton_s": median(skeleton),
        "ratio_gross": median(harness) / median(skeleton),
        "ratio_net": median(net) / median(skeleton),
        "pytest_reps": pytest_reps,
        "harness_pytest_s": median(real) if real else None,
        "harness_pytest_subprocess_s": median(real_sub) if real else None,
        "samples": {"harness": harness, "skeleton": skeleton, "harness_subprocess": harness_sub, "pytest": real},
    }


def measure(reps: int = 25, pytest_reps: int = 5, warmup: int = 2) -> dict[str, Any]:
    return asyncio.run(_measure(reps, pytest_reps, warmup))


BUCKETS = [
    ("harness: graph/ + nodes/", (f"{ROOT}/graph/", f"{ROOT}/nodes/")),
    ("LangGraph compile: node closure disassembly (dis)", ("/dis.py",)),
    ("langgraph checkpoint (sqlite saver, serde)", ("langgraph/checkpoint",)),
    ("langgraph pregel/channels/graph", ("langgraph/",)),
    ("langchain_core (runnables, callbacks, messages)", ("langchain_core/",)),
    ("pydantic (incl. JSON-schema generation)", ("pydantic",)),
    ("yaml", ("yaml/",)),
    ("json", ("json/",)),
    ("event loop idle: waiting on threads/subprocesses (epoll)", ("method 'poll'",)),
    ("asyncio machinery", ("asyncio/", "selectors", "method 'recv'", "_contextvars")),
    ("thread hand-offs (to_thread, aiosqlite queue)", ("threading", "concurrent/", "SimpleQueue", "_thread.lock")),
    ("subprocess spawn", ("subprocess", "fork_exec")),
    ("filesystem (pathlib, os, io)", ("pathlib", "posixpath", "method posix", "method io.", "_io.")),
]


def _bucket(filename: str, func: str) -> str:
    key = f"{filename} {func}"
    for name, needles in BUCKETS:
        if any(n in key for n in needles):
            return name
    return "other"


def profile(runs: int = 8, top: int = 18) -> dict[str, Any]:
    """cProfile the main thread over ``runs`` cheap harness runs (after a warm-up). Threads (aiosqlite's
    connection thread, asyncio.to_thread file work) are not profiled: their time shows as event-loop waiting."""

    async def go() -> None:
        base = scratch_dir()
        await harness_once(base)
        profiler.enable()
        for _ in range(runs):
            await harness_once(base)
        profiler.disable()

    profiler = cProfile.Profile()
    asyncio.run(go())
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    buckets: dict[str, float] = defaultdict(float)
    rows = []
    for (filename, line, func), (_cc, ncalls, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        buckets[_bucket(filename, func)] += tt
        rows.append((tt, ct, ncalls, _short(filename), line, func, filename))
    mine = (f"{ROOT}/graph/", f"{ROOT}/nodes/")
    own = sorted((r for r in rows if r[6].startswith(mine)), key=lambda r: -r[1])[:top]
    hot = sorted(rows, key=lambda r: -r[0])[:top]

    def fmt(r: tuple) -> dict[str, Any]:
        return {
            "function": f"{r[3]}:{r[4]}({r[5]})",
            "calls_per_run": round(r[2] / runs, 1),
            "self_ms_per_run": round(1000 * r[0] / runs, 2),
            "cum_ms_per_run": round(1000 * r[1] / runs, 2),
        }

    return {
        "runs": runs,
        "main_thread_ms_per_run": round(1000 * total / runs, 1),
        "buckets_ms_per_run": {k: round(1000 * v / runs, 1) for k, v in sorted(buckets.items(), key=lambda i: -i[1])},
        "top_self": [fmt(r) for r in hot],
        "top_harness_cumulative": [fmt(r) for r in own],
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
