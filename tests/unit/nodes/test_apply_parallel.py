"""Apply works on groups of tasks: a small change is one group (so a candidate can be whole); groups that do
not depend on each other's files run side by side (Send); a group that fails is retried within its bound."""

from __future__ import annotations

from pathlib import Path

from sdd_harness.graph.core.phases import APPLY
from sdd_harness.graph.core.state import busy_seconds
from sdd_harness.graph.entry.api import run_change
from sdd_harness.nodes.apply import fan_out, ready_groups
from sdd_harness.nodes.tasks import TaskPlan, TaskSpec, task_groups
from tests.fakes.scripted import DemoScript, team


def state_with(groups: list[list[int]], *tasks: tuple[str, list[str]]) -> dict:
    plan = TaskPlan(
        tasks=[TaskSpec(task=f"t{i}", file=f, dependencies=deps) for i, (f, deps) in enumerate(tasks, 1)],
        groups=groups,
    )
    return {"outputs": {"sdd-tasks": plan.model_dump()}}


def test_a_small_change_is_one_group_and_a_big_one_is_cut_by_size():
    plan = TaskPlan(tasks=[TaskSpec(task=f"t{i}", file=f"m{i}.py") for i in range(1, 4)])
    assert task_groups(plan, {"m1.py": 100, "m2.py": 200, "m3.py": 300}) == [[1, 2, 3]]
    assert task_groups(plan, {"m1.py": 15_000, "m2.py": 15_000, "m3.py": 100}) == [[1], [2, 3]]


def test_groups_on_independent_files_are_ready_together_and_a_dependent_one_waits():
    state = state_with([[1], [2], [3]], ("a.py", []), ("b.py", []), ("c.py", ["a.py"]))
    assert ready_groups(state) == [1, 2]  # c.py imports a.py: it waits for group 1
    assert [s.arg["apply_task"] for s in fan_out(state, continuing=False)] == [1, 2]
    state["apply_results"] = {"1": {"ok": True}, "2": {"ok": True}}
    assert ready_groups(state) == [3]


def test_a_failed_group_is_retried_only_when_asked():
    state = state_with([[1], [2]], ("a.py", []), ("b.py", []))
    state["apply_results"] = {"1": {"ok": False}, "2": {"ok": True}}
    assert ready_groups(state, retry_failed=False) == []
    assert ready_groups(state, retry_failed=True) == [1]


class FourModules(DemoScript):
    """Four independent functions, each in a module of its own, each with one scenario."""

    def sdd_spec(self, user: str) -> dict:
        scenarios = [
            {"name": f"Helper {i}", "call": f"extra{i}()", "expect": f"'extra{i}'", "module": f"textkit.extra{i}"}
            for i in range(1, 5)
        ]
        return {
            "capability": "text-helpers",
            "purpose": "Small helpers that name themselves, used by the parallel apply test.",
            "requirements": [
                {"name": "Helpers", "text": "The system SHALL provide four helpers.", "scenarios": scenarios}
            ],
        }

    def sdd_tasks(self, user: str) -> dict:
        return {"tasks": [{"task": f"Add helper {i}", "file": f"textkit/extra{i}.py"} for i in range(1, 5)]}

    def sdd_apply(self, user: str) -> str:
        return "".join(
            f"### textkit/extra{i}.py\n```python\ndef extra{i}() -> str:\n    return 'extra{i}'\n```\n"
            for i in range(1, 5)
        )


def test_a_small_change_is_applied_whole_with_its_candidates_run_side_by_side(demo_repo: Path):
    models = team(FourModules())
    models[APPLY].latency_s = 0.2
    request = "Add four helpers extra1() … extra4(), each in its own new module textkit/extra<N>.py."
    result = run_change(request, demo_repo, "opencode-go", models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert all((demo_repo / f"textkit/extra{i}.py").is_file() for i in range(1, 5))
    tasks_md = next((demo_repo / "openspec/changes/archive").iterdir()) / "tasks.md"
    assert tasks_md.read_text().count("- [x] 1.") == 4
    selected = [e for e in result.report["apply_log"] if e.get("step") == "selected"]
    assert len(selected) == 1 and selected[0]["tasks"] == [1, 2, 3, 4]  # one group: the whole change at once
    assert len(models[APPLY].calls) == 3 and models[APPLY].peak_concurrency == 3  # three candidates at once


def test_phase_seconds_count_reruns_but_not_overlap():
    assert busy_seconds([[0.0, 1.0], [0.2, 0.9], [0.5, 1.5]]) == 1.5  # parallel workers
    assert busy_seconds([[0.0, 1.0], [3.0, 3.5]]) == 1.5  # a phase that ran twice
    assert busy_seconds([]) == 0.0


class NeverCompiles(DemoScript):
    def sdd_apply(self, user: str) -> str:
        return "### textkit/strings.py\n```python\ndef slugify(:\n```\n"


def test_a_group_no_candidate_can_do_is_retried_within_its_bound_and_the_run_stops(
    demo_repo: Path, slugify_request: str
):
    models = team(NeverCompiles())
    original = (demo_repo / "textkit/strings.py").read_text()
    result = run_change(slugify_request, demo_repo, "opencode-go", models=models, auto_approve=True)
    assert result.status == "failed" and "sdd-apply failed its gate" in result.reason
    assert (demo_repo / "textkit/strings.py").read_text() == original  # no candidate reached the user's file
    apply_decisions = [d["action"] for d in result.report["decisions"] if d["phase"] == APPLY]
    assert apply_decisions == ["retry", "retry", "stop"]
