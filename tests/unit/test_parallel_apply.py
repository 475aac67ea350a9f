"""Apply fans out tasks that touch disjoint files (Send) and keeps overlapping ones in order."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sdd_harness.graph.core.phases import APPLY
from sdd_harness.graph.core.state import busy_seconds
from sdd_harness.graph.entry.api import run_change
from sdd_harness.nodes.apply import ready_batch
from tests.fakes.scripted import DemoScript, team


def plan(*tasks: tuple[str, list[str]]) -> dict:
    return {
        "outputs": {
            "sdd-tasks": {
                "tasks": [
                    {"task": f"t{i}", "file": f, "requirements": ["r"], "dependencies": deps}
                    for i, (f, deps) in enumerate(tasks)
                ]
            }
        }
    }


def test_batches_are_ordered_prefixes_of_disjoint_files():
    state = plan(("a.py", []), ("b.py", []), ("a.py", []), ("c.py", []))
    assert ready_batch(state) == [1, 2]  # task 3 edits a.py again: it and everything after waits
    state["apply_results"] = {"1": {"ok": True}, "2": {"ok": True}}
    assert ready_batch(state) == [3, 4]


def test_dependencies_and_tests_wait_for_the_code_they_use():
    state = plan(("pkg/core.py", []), ("pkg/cli.py", ["pkg/core.py"]), ("tests/test_core.py", []))
    assert ready_batch(state) == [1]
    state["apply_results"] = {"1": {"ok": True}}
    assert ready_batch(state) == [2]
    state["apply_results"]["2"] = {"ok": True}
    assert ready_batch(state) == [3]


class FourModules(DemoScript):
    """Four independent tasks, each creating its own module."""

    def sdd_tasks(self, user: str) -> dict:
        return {
            "tasks": [
                {"task": f"Add helper {i}", "file": f"textkit/extra{i}.py", "requirements": ["x"]} for i in range(1, 5)
            ]
        }

    def sdd_apply(self, user: str) -> dict:
        path = re.search(r"^file: (\S+)$", user, re.MULTILINE).group(1)
        name = Path(path).stem
        return {"edits": [{"op": "create", "path": path, "content": f"def {name}() -> str:\n    return '{name}'\n"}]}


def test_four_independent_tasks_run_side_by_side(demo_repo: Path, demo_request: str, tmp_path: Path):
    models = team(FourModules())
    models[APPLY].latency_s = 0.5
    started: list[float] = []
    result = run_change(
        demo_request,
        demo_repo,
        "opencode-go",
        models=models,
        auto_approve=True,
        on_event=lambda e: (
            started.append(time.perf_counter()) if e.get("phase") == APPLY and e.get("event") == "phase_start" else None
        ),
    )

    assert result.status == "done", result.reason
    assert all((demo_repo / f"textkit/extra{i}.py").is_file() for i in range(1, 5))
    assert max(started) - min(started) < 0.3  # all four started together, not one after another
    archive = demo_repo / "openspec/changes/archive"
    tasks_md = next(archive.iterdir()) / "tasks.md"
    assert tasks_md.read_text().count("- [x]") == 4
    assert [d["action"] for d in result.report["decisions"] if d["phase"] == APPLY] == ["advance"]
    apply_row = next(row for row in result.report["phases"] if row["phase"] == APPLY)
    assert apply_row["seconds"] < 4 * models[APPLY].latency_s  # wall time, not the four workers summed


def test_phase_seconds_count_reruns_but_not_overlap():
    assert busy_seconds([[0.0, 1.0], [0.2, 0.9], [0.5, 1.5]]) == 1.5  # parallel workers
    assert busy_seconds([[0.0, 1.0], [3.0, 3.5]]) == 1.5  # a phase that ran twice
    assert busy_seconds([]) == 0.0


class FirstTaskNeverPasses(DemoScript):
    def sdd_apply(self, user: str) -> dict:
        if "file: textkit/strings.py" in user or "Task: Add slugify" in user:
            return {"edits": [{"op": "replace_file", "path": "textkit/strings.py", "content": "def broken(:\n"}]}
        return super().sdd_apply(user)


def test_a_failed_task_does_not_block_the_next_batch_and_is_retried_after(
    demo_repo: Path, demo_request: str, tmp_path: Path
):
    models = team(FirstTaskNeverPasses())
    result = run_change(demo_request, demo_repo, "opencode-go", models=models, auto_approve=True)
    assert result.status == "failed"
    apply_prompts = [str(m[-1].content) for m in models[APPLY].calls]
    first_task_2 = next(i for i, p in enumerate(apply_prompts) if "file: tests/test_strings.py" in p)
    assert first_task_2 > 0  # task 2 got its turn after task 1 failed, before task 1 was retried
    later_task_1 = [i for i, p in enumerate(apply_prompts) if "file: textkit/strings.py" in p and i > first_task_2]
    assert later_task_1  # the gate retry went back to the failed task
    actions = [d["action"] for d in result.report["decisions"] if d["phase"] == APPLY]
    assert actions[0] == "continue" and "retry" in actions
