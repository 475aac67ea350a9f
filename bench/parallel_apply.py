"""Metric 5: apply wall time for 4 disjoint tasks vs 1 task, 1 s simulated latency on sdd-apply's model.

Each task creates its own new module (``textkit/extra_<i>.py``), so nothing orders them. The apply window is
taken from the progress events (first ``phase_start`` of sdd-apply to its last ``phase_end``), which stays
correct if apply fans out with ``Send``; ``report["phases"]`` seconds are kept too (a reducer that sums
parallel workers would over-count there).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from bench.common import REQUEST, Events, config, copy_demo, scratch_dir


def fanout_script(n_tasks: int) -> Any:
    from tests.fakes.scripted import DemoScript

    @dataclass
    class FanoutScript(DemoScript):
        tasks: int = 4

        def sdd_tasks(self, user: str) -> dict:
            return {
                "tasks": [
                    {"task": f"Add helper {i}", "file": f"textkit/extra_{i}.py", "requirements": [f"helper_{i}()"]}
                    for i in range(1, self.tasks + 1)
                ]
            }

        def sdd_apply(self, user: str) -> dict:
            match = re.search(r"^file: (\S+)$", user, re.MULTILINE) or re.search(r"(textkit/extra_\d+\.py)", user)
            target = match.group(1) if match else "textkit/extra_1.py"
            number = re.sub(r"\D", "", target) or "0"
            body = f'"""Helper {number}."""\n\n\ndef helper_{number}() -> int:\n    return {number}\n'
            return {"edits": [{"op": "create", "path": target, "content": body}]}

    return FanoutScript(tasks=n_tasks)


async def _apply_once(n_tasks: int, latency: float) -> dict[str, Any]:
    from sdd_harness.graph.entry.api import arun_change
    from tests.fakes.scripted import team

    repo = copy_demo(scratch_dir() / "repo")
    models = team(fanout_script(n_tasks))
    models["sdd-apply"].latency_s = latency
    events = Events()
    cfg = config("opencode-go", {"verify_commands": ["true"]})
    result = await arun_change(REQUEST, repo, cfg, models=models, auto_approve=True, on_event=events)
    row = next((r for r in result.report["phases"] if r["phase"] == "sdd-apply"), {})
    created = sorted(p.name for p in (repo / "textkit").glob("extra_*.py"))
    return {
        "tasks": n_tasks,
        "status": result.status,
        "apply_window_s": events.window("sdd-apply"),
        "apply_report_s": row.get("seconds"),
        "apply_calls": row.get("calls"),
        "created": created,
        "task_events": sum(1 for _, e in events.log if e.get("event") == "task"),
    }


def measure(latency: float = 1.0, tasks: int = 4) -> dict[str, Any]:
    one = asyncio.run(_apply_once(1, latency))
    many = asyncio.run(_apply_once(tasks, latency))
    ratio = (many["apply_window_s"] or float("nan")) / (one["apply_window_s"] or float("nan"))
    return {"latency_s": latency, "one": one, "many": many, "ratio": ratio}
