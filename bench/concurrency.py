"""Metric 7: 50 runs in one process (``asyncio.gather`` of ``arun_change`` on 50 repo copies, each its own run
id and SQLite file) with 0.2 s simulated latency on every model call, vs one run alone.

The same is measured for the bare skeleton (bench/skeleton.py: same topology, same saver, nodes that only
replay the harness run's model calls with the same latency): the floor LangGraph and SQLite set on this machine.

Verify and check commands are cheap (``python -c pass`` for verify, ``task_loop: false`` so apply starts no
per-task pytest): with real pytest, 50 runs on 2 cores would measure the CPU, not the harness.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import REQUEST, Events, Recorded, config, copy_demo, scratch_dir

RUN = {"task_loop": False, "verify_commands": ["python -c pass"]}


async def _batch(n: int, latency: float) -> dict[str, Any]:
    from sdd_harness.graph.entry.api import arun_change
    from tests.fakes.scripted import DemoScript, team

    base = scratch_dir()
    repos = [copy_demo(base / f"r{i}") for i in range(n)]
    cfg = config("opencode-go", RUN)
    teams = []
    for _ in range(n):
        models = team(DemoScript())
        for fake in models.values():
            fake.latency_s = latency
        teams.append(models)
    start = time.perf_counter()
    results = await asyncio.gather(
        *(
            arun_change(REQUEST, repo, cfg, models=m, auto_approve=True, run_id=f"c{i}")
            for i, (repo, m) in enumerate(zip(repos, teams, strict=True))
        ),
        return_exceptions=True,
    )
    wall = time.perf_counter() - start
    ok = sum(1 for r in results if not isinstance(r, BaseException) and r.status == "done")
    errors = [f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)]
    calls = [r.report["totals"]["calls"] for r in results if not isinstance(r, BaseException)]
    return {"n": n, "wall_s": wall, "done": ok, "errors": errors[:3], "calls_per_run": max(calls or [0])}


async def _recorded_run() -> dict[str, Any]:
    """One harness run like the batch's, with every model call kept for the skeleton to replay."""
    from bench.overhead import make_team
    from sdd_harness.graph.entry.api import arun_change

    events, sink = Events(), []
    models = make_team(events, sink, loop_back=False)
    repo = copy_demo(scratch_dir() / "template")
    result = await arun_change(
        REQUEST, repo, config("opencode-go", RUN), models=models, auto_approve=True, on_event=events
    )
    return {"recorded": sink, "route": [d["next"] for d in result.report["decisions"]]}


async def _skeleton_batch(n: int, latency: float, template: dict[str, Any]) -> float:
    from bench.overhead import replay_of
    from bench.skeleton import run_skeleton
    from sdd_harness.graph.core.phases import BUILTIN_PHASES

    recorded: list[Recorded] = template["recorded"]
    replay, replies = replay_of(recorded)
    base = scratch_dir()
    start = time.perf_counter()
    await asyncio.gather(
        *(
            run_skeleton(
                base / f"s{i}" / "checkpoints.sqlite",
                BUILTIN_PHASES,
                replay,
                replies,
                template["route"],
                REQUEST,
                latency_s=latency,
            )
            for i in range(n)
        )
    )
    return time.perf_counter() - start


def skeleton_speedup(n: int, latency: float) -> dict[str, Any]:
    template = asyncio.run(_recorded_run())
    asyncio.run(_skeleton_batch(1, 0.0, template))  # warm-up
    one = asyncio.run(_skeleton_batch(1, latency, template))
    many = asyncio.run(_skeleton_batch(n, latency, template))
    return {"one_s": one, "many_s": many, "speedup": n * one / many}


def measure(n: int = 50, latency: float = 0.2) -> dict[str, Any]:
    asyncio.run(_batch(1, 0.0))  # warm-up (lazy imports)
    one = asyncio.run(_batch(1, latency))
    many = asyncio.run(_batch(n, latency))
    throughput_one = 1 / one["wall_s"]
    throughput_many = many["done"] / many["wall_s"]
    cpu_start = time.process_time()
    asyncio.run(_batch(1, 0.0))
    cpu_per_run = time.process_time() - cpu_start
    return {
        "latency_s": latency,
        "one": one,
        "many": many,
        "speedup": throughput_many / throughput_one,
        "model_wait_per_run_s": one["calls_per_run"] * latency,
        "cpu_per_run_s": cpu_per_run,
        "skeleton": skeleton_speedup(n, latency),
    }
