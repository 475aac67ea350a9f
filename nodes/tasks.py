"""sdd-tasks: small tasks in the precise-spec template, each one file from the design, aimed at scenario ids.

A task points at the spec (requirement ids R1…, scenario ids S1…) instead of restating it: a small model
that paraphrases loses error cases and gets values wrong. Code then puts the plan in order: a file outside
the design is mapped onto the design's file of that name or dropped, two tasks on one file become one, a file
the scenario tests import from gets a task if none has it, every scenario belongs to the task whose file it
imports from, a task with no scenarios about a name another task's file defines joins that task, and tests are
not tasks (the scenario tests are written already). The gate rejects a task that states an expected value
contradicting a scenario.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel, Field, create_model, field_validator

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import TASKS
from sdd_harness.graph.core.prose import bounded
from sdd_harness.graph.infra.contract import Example, same_value
from sdd_harness.graph.infra.modulemap import is_test_path
from sdd_harness.graph.infra.pycheck import top_level_names
from sdd_harness.graph.infra.request_items import extract
from sdd_harness.graph.infra.workspace import Workspace
from sdd_harness.nodes import design, spec

ARTIFACT = "tasks.md"
_ID = re.compile(r"\b([RS]\d+)\b")


class TaskDraft(BaseModel):
    """What the model writes for one task: the precise-spec template, each field one short line.

    The bounds keep a plan of a few tasks inside the phase's token budget (a reply cut at ``max_tokens`` is
    paid for in full and loses its last tasks); code fills ``check`` and the groups, so the model is not asked.
    """

    task: bounded(120) = Field(description="Imperative title, one line.")
    file: str = Field(description="The one file from the design this task edits or creates.")
    requirements: list[str] = Field(default_factory=list, description="Requirement ids it implements, e.g. R1.")
    scenarios: list[str] = Field(default_factory=list, description="Scenario ids its code must pass, e.g. S2.")
    input: bounded(100) = Field("", description="Parameters and types.")
    output: bounded(100) = Field("", description="Return value and type.")
    validation: bounded(120) = Field("", description="Input checks.")
    error_handling: bounded(120) = Field("", description="Which errors are raised, when.")
    dependencies: list[str] = Field(
        default_factory=list, description="Repo files or names this task relies on.", json_schema_extra={"maxItems": 3}
    )
    style: bounded(80) = Field("", description="Style constraints.")

    @field_validator("requirements", "scenarios", "dependencies", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class TaskSpec(TaskDraft):
    """One small task in the precise-spec template (under ~100 changed lines)."""

    check: str = Field("", description="The scenario tests (or command) proving this task.")


class TaskPlan(BaseModel):
    tasks: list[TaskSpec] = Field(min_length=1, max_length=12)
    groups: list[list[int]] = Field(
        default_factory=list, description="Filled by code: tasks (1-based) apply works on together."
    )

    def lines(self, group: list[int]) -> str:
        """The group's tasks as apply's prompt shows them: title, file, and the fields that are filled."""
        lines = []
        for index in group:
            task = self.tasks[index - 1]
            fields = (
                ("input", task.input),
                ("output", task.output),
                ("validation", task.validation),
                ("errors", task.error_handling),
                ("scenarios", ", ".join(task.scenarios)),
            )
            detail = "; ".join(f"{label}: {value}" for label, value in fields if value)
            lines.append(f"1.{index} {task.task} — `{task.file}`" + (f" ({detail})" if detail else ""))
        return "\n".join(lines)


@functools.cache
def draft_schema(files: tuple[str, ...]) -> type[BaseModel]:
    """The schema the model answers in: one task per design file at most, ``file`` one of them.

    Both bounds live in the JSON schema only, so a grammar-constrained server cannot write a fifth task on the
    same file (the habit that ran replies into their token limit) while a provider without grammars is not
    re-asked for it: ``in_order`` merges same-file tasks and maps stray files either way.
    """
    if not files:
        return create_model("TaskPlan", tasks=(list[TaskDraft], Field(min_length=1, max_length=12)))
    item = create_model(
        "TaskDraft",
        __base__=TaskDraft,
        file=(
            str,
            Field(description=TaskDraft.model_fields["file"].description, json_schema_extra={"enum": list(files)}),
        ),
    )
    bound = Field(min_length=1, max_length=12, json_schema_extra={"maxItems": len(files)})
    return create_model("TaskPlan", tasks=(list[item], bound))


GROUP_FILES = 4
GROUP_CHARS = 16_000


def task_groups(plan: TaskPlan, sizes: dict[str, int]) -> list[list[int]]:
    """Consecutive tasks worked on together: all of a small change (so one candidate can make it whole), else a
    few files at a time, within a budget of current file sizes (characters)."""
    groups: list[list[int]] = []
    chars = 0
    for index, task in enumerate(plan.tasks, 1):
        size = sizes.get(task.file, 0)
        if groups and len(groups[-1]) < GROUP_FILES and chars + size <= GROUP_CHARS:
            groups[-1].append(index)
            chars += size
        else:
            groups.append([index])
            chars = size
    return groups


def render_tasks(plan: TaskPlan, done: set[int] | None = None, contract: str = "") -> str:
    """tasks.md: the contract line (tests written before code), then OpenSpec checkboxes with the template."""
    done = done or set()
    lines = ["# Tasks", ""]
    if contract:
        lines += ["## 0. Contract (written before any code)", "", f"- [x] 0.1 {contract}", ""]
    lines += ["## 1. Implementation", ""]
    for index, task in enumerate(plan.tasks, start=1):
        mark = "x" if index in done else " "
        lines.append(f"- [{mark}] 1.{index} {task.task} (`{task.file}`)")
        for label, value in (
            ("requirements", ", ".join(task.requirements)),
            ("scenarios", ", ".join(task.scenarios)),
            ("input", task.input),
            ("output", task.output),
            ("validation", task.validation),
            ("error_handling", task.error_handling),
            ("dependencies", ", ".join(task.dependencies)),
            ("style", task.style),
            ("check", task.check),
        ):
            if value:
                lines.append(f"  - {label}: {value}")
    return "\n".join(lines) + "\n"


_TICK = re.compile(r"^- \[(?P<mark>[ xX])\] 1\.(?P<num>\d+) ", re.MULTILINE)


def ticked_tasks(tasks_md: str) -> tuple[int, int]:
    """(done, total) implementation checkboxes in a tasks.md."""
    marks = [m.group("mark") for m in _TICK.finditer(tasks_md)]
    return sum(1 for m in marks if m in "xX"), len(marks)


# ------------------------------------------------------------------------------------ putting the plan in order


def _ids(values: list[str], prefix: str, known: set[str]) -> list[str]:
    found = [m for v in values for m in _ID.findall(v) if m.startswith(prefix)]
    return [i for i in dict.fromkeys(found) if i in known]


def file_of_case(case: spec.ScenarioCase, files: list[str]) -> str | None:
    """The design file a scenario's test imports from (``pkg.mod`` -> ``pkg/mod.py`` or ``pkg/mod/__init__.py``)."""
    if not case.example or not case.example.module:
        return None
    base = case.example.module.replace(".", "/")
    candidates = [f"{root}{base}{end}" for root in ("", "src/") for end in (".py", "/__init__.py")]
    return next((f for f in candidates if f in files), None)


def in_order(
    plan: TaskPlan,
    the_design: design.Design | None,
    change: spec.ChangeSpec | None,
    workspace: Workspace,
    request: str = "",
) -> tuple[TaskPlan, list[str]]:
    """The plan a model wrote, made consistent with the design and the spec; notes say what was changed."""
    files = [c.path for c in the_design.file_changes if not is_test_path(c.path)] if the_design else []
    cases = change.cases if change else []
    scenario_ids = {c.id for c in cases}
    requirement_ids = {c.requirement_id for c in cases}
    notes: list[str] = []
    by_file: dict[str, TaskSpec] = {}
    for task in plan.tasks:
        path = task.file.strip().strip("`").removeprefix("./")
        if is_test_path(path):
            notes.append(f"dropped '{task.task}': tests are the contract, written before code")
            continue
        if files and path not in files:
            same = [f for f in files if f.rsplit("/", 1)[-1] == path.rsplit("/", 1)[-1]]
            if len(same) != 1:
                notes.append(f"dropped '{task.task}': {path} is not a file of the design")
                continue
            path = same[0]
        task = task.model_copy(
            update={
                "file": path,
                "requirements": _ids(task.requirements, "R", requirement_ids) if requirement_ids else task.requirements,
                "scenarios": _ids(task.scenarios, "S", scenario_ids),
            }
        )
        if path in by_file:
            first = by_file[path]
            notes.append(f"merged '{task.task}' into '{first.task}' (same file {path})")
            by_file[path] = first.model_copy(
                update={
                    "requirements": list(dict.fromkeys([*first.requirements, *task.requirements])),
                    "scenarios": list(dict.fromkeys([*first.scenarios, *task.scenarios])),
                }
            )
        else:
            by_file[path] = task
    for path in dict.fromkeys(f for c in cases if (f := file_of_case(c, files))):
        if path not in by_file:
            by_file[path] = TaskSpec(task=f"Change {path}", file=path)
            notes.append(f"added a task for {path}: scenario tests import from it and no task touched it")
    for case in cases:
        home = file_of_case(case, list(by_file))
        owner = by_file.get(home) if home else None
        if owner and case.id not in owner.scenarios:
            by_file[home] = owner.model_copy(update={"scenarios": [*owner.scenarios, case.id]})
    for path, home, name in misplaced(by_file, workspace, request):
        notes.append(f"merged '{by_file[path].task}' into the task on {home}: it is about `{name}`, defined there")
        first, task = by_file[home], by_file.pop(path)
        by_file[home] = first.model_copy(update={"task": f"{first.task}; {task.task}"})
    ordered = sorted(by_file.values(), key=lambda t: (t.file.endswith("__init__.py"), list(by_file).index(t.file)))
    return TaskPlan(tasks=[_with_check(t, cases) for t in ordered] or plan.tasks), notes


def misplaced(by_file: dict[str, TaskSpec], workspace: Workspace, request: str) -> list[tuple[str, str, str]]:
    """(file, home, name) for each task without scenarios on an existing file that defines nothing it is about,
    while another task's file defines a name it mentions (a constructor's change put on the package's
    ``__init__.py``). A package the request asks to re-export from keeps its task: that file is the point."""
    exports = {f"{r.package.replace('.', '/')}/__init__.py" for r in extract(request).reexports}
    defined = {p: top_level_names(workspace.read(p)) if workspace.exists(p) else set() for p in by_file}
    mentions = {p: set(re.findall(r"\b[A-Za-z_]\w{2,}\b", f"{t.task} {t.output}")) for p, t in by_file.items()}
    movable = [
        p
        for p, t in by_file.items()
        if not t.scenarios and p not in exports and workspace.exists(p) and not mentions[p] & defined[p]
    ]
    moves = []
    for path in movable:
        homes = [(p, n) for p in by_file if p not in movable for n in sorted(mentions[path] & defined[p])]
        if homes:
            moves.append((path, *homes[0]))
    return moves


def _with_check(task: TaskSpec, cases: list[spec.ScenarioCase]) -> TaskSpec:
    tests = [c.test.split("::")[-1] for c in cases if c.id in task.scenarios and c.test]
    requirements = task.requirements or list(dict.fromkeys(c.requirement_id for c in cases if c.id in task.scenarios))
    check = f"scenario tests {', '.join(tests)}" if tests else task.check
    return task.model_copy(update={"requirements": requirements, "check": check})


def contradictions(plan: TaskPlan, change: spec.ChangeSpec | None) -> list[str]:
    """Expected values a task states that a scenario contradicts (the same call, another value)."""
    if change is None:
        return []
    scenario_values = {c.example.key(): c.example for c in change.cases if c.example and c.example.expect}
    problems = []
    for index, task in enumerate(plan.tasks, 1):
        text = " ".join([task.task, task.output, task.validation, task.error_handling, *task.requirements])
        for worked in extract(text).examples:
            stated = Example(call=worked.call, expect=worked.expect)
            scenario = scenario_values.get(stated.key())
            if scenario and not same_value(scenario.expect or "", worked.expect):
                problems.append(
                    f"task 1.{index} says `{worked.call}` gives `{worked.expect}`, but the spec's scenario says "
                    f"`{scenario.expect}`"
                )
    return problems


def file_sizes(workspace: Workspace, files: list[str]) -> dict[str, int]:
    return {rel: len(workspace.read(rel)) if workspace.exists(rel) else 0 for rel in files}


async def run(ctx: PhaseContext) -> dict[str, Any]:
    the_design, change = ctx.result(design.PHASE), ctx.result(spec.PHASE)
    files = [c.path for c in the_design.file_changes if not is_test_path(c.path)] if the_design else []
    user = (
        f"Change request (the user's words):\n{ctx.request}\n\nSpec (ids to reference):\n{ctx.brief(spec.PHASE)}\n\n"
        f"Design:\n{ctx.brief(design.PHASE)}\n\nFiles a task may take (one per task): {', '.join(files) or '(any)'}"
    )
    draft = await ctx.ask(draft_schema(tuple(files)), user)
    plan = TaskPlan.model_validate(draft.model_dump())
    plan, notes = await ctx.io(in_order, plan, the_design, change, ctx.workspace, ctx.request)
    sizes = await ctx.io(file_sizes, ctx.workspace, [t.file for t in plan.tasks])
    plan = plan.model_copy(update={"groups": task_groups(plan, sizes)})
    contract = ""
    if change and change.test_file:
        contract = f"Scenario tests in `{change.test_file}`: {len(change.tests())} test(s), run before any code"
    rel = await ctx.write_artifact(ARTIFACT, render_tasks(plan, contract=contract))
    output = {**plan.model_dump(), "notes": notes}
    return {"outputs": {TASKS: output, "sdd-apply": {}}, "apply_results": None, "artifacts": {TASKS: rel}}


def check(ctx: GateContext) -> list[str]:
    plan = ctx.result(PHASE)
    if plan is None:
        return ["no task plan was produced"]
    problems = contradictions(plan, ctx.result(spec.PHASE))
    created: set[str] = set()
    for index, task in enumerate(plan.tasks, start=1):
        try:
            target = ctx.workspace.resolve(task.file)
        except Exception as err:  # noqa: BLE001 - any refusal is a gate problem
            problems.append(f"task 1.{index}: {err}")
            continue
        if not target.parent.exists() and not any(c.startswith(task.file.rsplit("/", 1)[0]) for c in created):
            problems.append(f"task 1.{index}: folder of {task.file!r} does not exist")
        created.add(task.file)
    return problems


PHASE = Phase(name=TASKS, run=run, check=check, output=TaskPlan, artifact=ARTIFACT)
