"""The task plan a model writes is put in order by code before apply sees it."""

from __future__ import annotations

from pathlib import Path

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.scenarios import ScenarioCase
from sdd_harness.graph.infra.workspace import Workspace
from sdd_harness.nodes.design import Design, FileChange
from sdd_harness.nodes.spec import ChangeSpec
from sdd_harness.nodes.tasks import TaskPlan, TaskSpec, in_order

HISTORY = "class History:\n    def __init__(self, initial):\n        self.current = initial\n"


def workspace(tmp_path: Path) -> Workspace:
    (tmp_path / "pad").mkdir()
    (tmp_path / "pad" / "__init__.py").write_text("from pad.history import History\n")
    (tmp_path / "pad" / "history.py").write_text(HISTORY)
    return Workspace(tmp_path)


DESIGN = Design(
    approach="Change History.",
    file_changes=[
        FileChange(path="pad/history.py", description="limit"),
        FileChange(path="pad/__init__.py", description="exports"),
    ],
)
CHANGE = ChangeSpec(
    deltas=[],
    cases=[
        ScenarioCase(
            id="S1",
            requirement_id="R1",
            capability="history",
            requirement="Limit",
            name="limit",
            example=Example(setup=["h = History(0, limit=2)"], call="h.undo()", expect="0", module="pad.history"),
            test="tests/test_history.py::test_limit",
            red="new",
        )
    ],
)


def test_a_task_about_a_class_put_on_the_package_init_joins_the_task_on_the_file_that_defines_it(
    tmp_path: Path,
) -> None:
    plan = TaskPlan(
        tasks=[
            TaskSpec(task="Add redo to History", file="pad/history.py", scenarios=["S1"]),
            TaskSpec(task="Make the History constructor keep only `limit` steps", file="pad/__init__.py"),
        ]
    )
    ordered, notes = in_order(plan, DESIGN, CHANGE, workspace(tmp_path), "Extend `History` in `pad/history.py`.")
    assert [t.file for t in ordered.tasks] == ["pad/history.py"]
    assert "keep only `limit` steps" in ordered.tasks[0].task  # what the task asked for is not lost
    assert any("it is about `History`, defined there" in n for n in notes)


def test_the_package_the_request_re_exports_from_keeps_its_task(tmp_path: Path) -> None:
    plan = TaskPlan(
        tasks=[
            TaskSpec(task="Add redo to History", file="pad/history.py", scenarios=["S1"]),
            TaskSpec(task="Export History", file="pad/__init__.py"),
        ]
    )
    request = "Extend the `History` class in `pad/history.py`. Re-export `History` from `pad/__init__.py`."
    ordered, _ = in_order(plan, DESIGN, CHANGE, workspace(tmp_path), request)
    assert [t.file for t in ordered.tasks] == ["pad/history.py", "pad/__init__.py"]
