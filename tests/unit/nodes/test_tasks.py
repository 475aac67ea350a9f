"""The task plan a model writes is put in order by code before apply sees it."""

from __future__ import annotations

from pathlib import Path

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.scenarios import ScenarioCase
from sdd_harness.graph.infra.workspace import Workspace
from sdd_harness.nodes.design import Design, FileChange
from sdd_harness.nodes.spec import ChangeSpec
from sdd_harness.nodes.tasks import TaskPlan, TaskSpec, draft_schema, in_order

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


def test_the_schema_a_model_answers_in_allows_one_task_per_design_file() -> None:
    schema = draft_schema(("pad/history.py", "pad/__init__.py")).model_json_schema()
    item = schema["$defs"]["TaskDraft"]["properties"]
    assert schema["properties"]["tasks"]["maxItems"] == 2
    assert item["file"]["enum"] == ["pad/history.py", "pad/__init__.py"]
    assert "check" not in item and "groups" not in schema["properties"]  # code fills those
    assert all(item[f]["maxLength"] <= 120 for f in ("task", "input", "output", "validation", "error_handling"))


def test_a_provider_without_grammars_is_not_re_asked_for_what_the_grammar_forbids() -> None:
    answer = {
        "tasks": [
            {"task": "Limit the steps", "file": "pad/history.py", "check": "ignored"},
            {"task": "Limit again", "file": "pad/history.py"},
            {"task": "Export", "file": "./pad/__init__.py", "validation": "It works. It works. It works."},
        ]
    }
    draft = draft_schema(("pad/history.py", "pad/__init__.py")).model_validate(answer)
    plan = TaskPlan.model_validate(draft.model_dump())
    assert [t.file for t in plan.tasks] == ["pad/history.py", "pad/history.py", "./pad/__init__.py"]
    assert plan.tasks[0].check == "" and plan.tasks[2].validation == "It works."


def test_a_run_on_task_title_is_cut_at_a_sentence() -> None:
    title = "Limit how many undo steps the history keeps. " + "Keep only the last steps and drop the oldest " * 5
    assert TaskSpec(task=title, file="pad/history.py").task == "Limit how many undo steps the history keeps."
