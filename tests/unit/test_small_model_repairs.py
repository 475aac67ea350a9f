"""Deterministic repairs for the mistakes small models make, before any re-ask is paid for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from sdd_harness.graph.core.llm import ModelOutputError, ask_structured, extract_json, parroted_fields
from sdd_harness.graph.infra.openspec import SpecDeltaSet
from sdd_harness.nodes.explore import Exploration, with_known_files
from sdd_harness.nodes.propose import Proposal
from sdd_harness.nodes.spec import normalise_deltas
from tests.fakes.chat import FakeChatModel

REQ = {
    "name": "Slugify Text",
    "text": "Turns text into a slug.",
    "scenarios": [{"name": "Basic", "when": ["called"], "then": ["slug returned"]}],
}


def test_modified_of_a_missing_requirement_becomes_added_and_gets_shall():
    data = {
        "deltas": [
            {
                "capability": "text-slugs",
                "purpose": "Slugs for links and file names, everywhere.",
                "modified": [dict(REQ)],
                "removed": ["Ghost"],
            }
        ]
    }
    fixed = SpecDeltaSet.model_validate(normalise_deltas(data, existing={}))
    delta = fixed.deltas[0]
    assert [r.name for r in delta.added] == ["Slugify Text"] and delta.modified == [] and delta.removed == []
    assert delta.added[0].text.startswith("The system SHALL turns")  # grammar aside, OpenSpec-valid


def test_real_modifications_are_kept():
    data = {"deltas": [{"capability": "text-slugs", "modified": [dict(REQ, text="It SHALL slug.")]}]}
    fixed = SpecDeltaSet.model_validate(normalise_deltas(data, existing={"text-slugs": {"Slugify Text"}}))
    assert [r.name for r in fixed.deltas[0].modified] == ["Slugify Text"]


def test_copied_field_descriptions_are_detected():
    proposal = Proposal(
        why="The problem or need, 1-3 sentences (at least 50 characters).",
        what_changes=["x"],
        approach="How, in 1-2 sentences.",
        success_criteria=["Checkable outcomes."],
    )
    assert {"why", "approach"} <= set(parroted_fields(proposal))


def test_a_parroting_model_is_re_asked_with_the_reason():
    parrot = json.dumps(
        {
            "why": "The problem or need, 1-3 sentences (at least 50 characters).",
            "what_changes": ["a"],
            "approach": "Add it.",
            "success_criteria": ["tests pass"],
        }
    )
    good = json.dumps(
        {
            "why": "Users need URL slugs for titles with accents and punctuation.",
            "what_changes": ["a"],
            "approach": "Add it.",
            "success_criteria": ["tests pass"],
        }
    )
    model = FakeChatModel(replies=[parrot, good])
    result = asyncio.run(ask_structured(model, Proposal, [HumanMessage("propose")]))
    assert result.why.startswith("Users need")
    assert "copied the field descriptions" in str(model.calls[1][-1].content)


def test_repairs_are_bounded():
    model = FakeChatModel(replies=["not json"] * 3)
    with pytest.raises(ModelOutputError, match="still invalid after 2 repair"):
        asyncio.run(ask_structured(model, Proposal, [HumanMessage("propose")]))
    assert len(model.calls) == 3


def test_json_is_found_inside_fences_and_chatter():
    assert extract_json('Sure!\n```json\n{"a": 1}\n```\nDone.') == {"a": 1}
    assert extract_json('Here: {"a": {"b": 2}} ok') == {"a": {"b": 2}}
    assert extract_json('```\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    assert extract_json('{"text": "a ``` fence inside a value"}') == {"text": "a ``` fence inside a value"}


def test_a_cut_off_or_missing_object_is_an_error_the_model_is_shown():
    """A truncated object is never completed into a partial answer; the re-ask names what was wrong."""
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json('{"title": "x", "tasks": [1, 2')
    with pytest.raises(ValueError, match="the reply was empty"):
        extract_json("  \n ")
    with pytest.raises(ValueError, match="Expecting value"):
        extract_json('```json\n{"a": }\n```')


def test_exploration_gets_the_files_the_request_names(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "core.py").write_text("def f():\n    pass\n")
    empty = Exploration(current_state="s", affected_files=[], recommendation="r")
    request = "Add g() to pkg/core.py and tests in pkg/test_core.py; see /etc/passwd and nope/x.py"
    fixed = with_known_files(empty, tmp_path, request)
    assert fixed.affected_files == ["pkg/core.py", "pkg/test_core.py"]


def test_repeated_scenario_and_requirement_names_are_numbered():
    scenario = {"name": "Invalid", "when": ["bad input"], "then": ["error"]}
    req = dict(REQ, text="It SHALL work.", scenarios=[scenario, dict(scenario)])
    data = {"deltas": [{"capability": "text-slugs", "added": [req, dict(req, scenarios=[dict(scenario)])]}]}
    fixed = SpecDeltaSet.model_validate(normalise_deltas(data, existing={}))
    added = fixed.deltas[0].added
    assert [r.name for r in added] == ["Slugify Text", "Slugify Text (2)"]
    assert [s.name for s in added[0].scenarios] == ["Invalid", "Invalid (2)"]


def test_a_rewrite_that_changes_existing_functions_is_refused(demo_repo: Path):
    from sdd_harness.graph.infra.workspace import Edit, Workspace
    from sdd_harness.nodes.apply import preserved
    from sdd_harness.nodes.tasks import TaskSpec

    class Ctx:
        workspace = Workspace(demo_repo)

    original = (demo_repo / "textkit/strings.py").read_text()
    task = TaskSpec(task="Add slugify", file="textkit/strings.py", requirements=["slug"])
    mangled = original.replace('suffix: str = "...") -> str', 'tail: str = "...") -> str') + "\ndef slugify(t): ..."
    problem = preserved(Ctx(), [Edit(op="replace_file", path="textkit/strings.py", content=mangled)], task)
    assert "truncate" in problem and "append" in problem
    fine = original + "\n\ndef slugify(text: str) -> str:\n    return text\n"
    assert preserved(Ctx(), [Edit(op="replace_file", path="textkit/strings.py", content=fine)], task) == ""


def test_create_on_an_existing_module_is_applied_as_the_model_meant(demo_repo: Path):
    from sdd_harness.graph.infra.workspace import Edit, Workspace, WorkspaceError
    from sdd_harness.nodes.apply import create_as_intended

    ws = Workspace(demo_repo)
    original = (demo_repo / "textkit/strings.py").read_text()
    slugify = "def slugify(text: str) -> str:\n    return text.lower()\n"

    def create(content: str) -> list[Edit]:
        return create_as_intended(ws, [Edit(op="create", path="textkit/strings.py", content=content)])

    whole = create(original + "\n\n" + slugify)  # the whole module again, plus the new function
    assert whole[0].op == "replace_file"
    only_new = create("import re\n\n\n" + slugify)  # just the new code
    assert only_new[0].op == "append"
    ws.apply(only_new)
    text = (demo_repo / "textkit/strings.py").read_text()
    assert text.startswith(original.rstrip()) and text.rstrip().endswith("return text.lower()")

    clash = create("def truncate(text):\n    return text\n\n\n" + slugify)  # rewrites one, drops the rest
    assert clash[0].op == "create"
    nested = "def slugify(text):\n    def truncate(text, width):\n        return text\n    return text\n"
    assert create(nested)[0].op == "create"  # the demo's 1.5B model: the old module pasted inside slugify
    with pytest.raises(WorkspaceError, match="create on a file that already exists"):
        ws.apply(clash)
    new_file = create_as_intended(ws, [Edit(op="create", path="textkit/slugs.py", content=slugify)])
    assert new_file[0].op == "create"


def test_pytest_code_appended_to_a_module_is_refused_with_the_reason(demo_repo: Path):
    from sdd_harness.graph.infra.workspace import Edit, Workspace
    from sdd_harness.nodes.apply import tests_in_a_module

    ws = Workspace(demo_repo)
    tests = "@pytest.mark.parametrize('text', ['a'])\ndef test_truncate(text):\n    assert truncate(text, 5)\n"
    both = [Edit(op="append", path=p, content=tests) for p in ("tests/test_strings.py", "textkit/strings.py")]
    assert tests_in_a_module(ws, both) == (
        "textkit/strings.py: pytest tests belong in a test file, not in this module; edit only the test file"
    )
    assert tests_in_a_module(ws, both[:1]) == ""  # the test file is where they go
    code = [Edit(op="append", path="textkit/strings.py", content="def slugify(text):\n    return text\n")]
    assert tests_in_a_module(ws, code) == ""
    plugin = "import pytest\n\n\n@pytest.fixture\ndef clock():\n    return 0\n"
    assert tests_in_a_module(ws, [Edit(op="create", path="textkit/testing.py", content=plugin)]) == ""


def test_new_tests_that_never_call_what_the_change_adds_are_sent_back(demo_repo: Path):
    """The demo's 1.5B model, asked to test `slugify`, wrote (wrong) tests for the module's old functions."""
    from sdd_harness.graph.infra.pycheck import defined_tests
    from sdd_harness.graph.infra.workspace import Workspace
    from sdd_harness.nodes.apply import static_problems
    from sdd_harness.nodes.tasks import TaskSpec

    class Ctx:
        workspace = Workspace(demo_repo)
        request = "Add `slugify(text)` to `textkit/strings.py`. Add tests in `tests/test_strings.py`."

    strings, tests = demo_repo / "textkit/strings.py", demo_repo / "tests/test_strings.py"
    strings.write_text(strings.read_text() + "\n\ndef slugify(text: str) -> str:\n    return text.lower()\n")
    before_tests = tests.read_text()
    task = TaskSpec(task="Add tests", file="tests/test_strings.py", requirements=["verify the functionality"])
    sources = frozenset({"textkit/strings.py", "tests/test_strings.py"})
    existing = defined_tests(before_tests)
    tests.write_text(
        before_tests + "\n\n@pytest.mark.parametrize('w', [8])\ndef test_truncate_more(w):\n"
        "    assert truncate('hello world', w) == 'hello...'\n"
    )
    problem = static_problems(Ctx(), task, existing, sources)
    assert "call none of what this change is about (slugify)" in problem and "test_truncate_more" in problem
    imported = before_tests.replace("normalize_whitespace, truncate", "normalize_whitespace, slugify, truncate")
    tests.write_text(imported + "\n\ndef test_slugify_lowercases():\n    assert slugify('AB') == 'ab'\n")
    assert static_problems(Ctx(), task, existing, sources) == ""
    (demo_repo / "textkit/cart.py").write_text("class Cart:\n    def total(self):\n        return 0\n")
    Ctx.request = "Add `Cart.total()` in `textkit/cart.py`, with tests."
    tests.write_text(before_tests + "\n\ndef test_total_of_nothing(cart=None):\n    assert cart.total() == 0\n")
    assert static_problems(Ctx(), task, existing, sources | {"textkit/cart.py"}) == ""  # a method counts


def test_the_spec_answer_schema_forces_a_requirement_and_existing_names_become_modified():
    from pydantic import ValidationError

    from sdd_harness.nodes.spec import SpecAnswer, reclassify

    schema = SpecAnswer.model_json_schema()
    assert schema["$defs"]["CapabilityAnswer"]["properties"]["added"]["minItems"] == 1  # the grammar forbids empty
    with pytest.raises(ValidationError):
        SpecAnswer.model_validate({"deltas": [{"capability": "parsing"}]})
    answer = SpecAnswer.model_validate(
        {
            "deltas": [
                {
                    "capability": "text-slugs",
                    "added": [dict(REQ, text="It SHALL slug."), dict(REQ, name="Limit Length", text="It SHALL cut.")],
                }
            ]
        }
    )
    final = reclassify(answer, {"text-slugs": {"Slugify Text"}})
    assert [r.name for r in final.deltas[0].modified] == ["Slugify Text"]
    assert [r.name for r in final.deltas[0].added] == ["Limit Length"]


def test_a_capability_split_over_several_entries_is_merged():
    one = {"capability": "pages", "added": [dict(REQ, text="It SHALL page.")]}
    two = {"capability": "pages", "added": [dict(REQ, name="Count Pages", text="It SHALL count.")]}
    fixed = SpecDeltaSet.model_validate(normalise_deltas({"deltas": [one, two]}, existing={}))
    assert len(fixed.deltas) == 1 and [r.name for r in fixed.deltas[0].added] == ["Slugify Text", "Count Pages"]


def test_a_short_purpose_for_a_new_capability_is_extended_to_fifty_characters():
    delta = {"capability": "money/amounts", "purpose": "Split money", "added": [dict(REQ, name="Split", text="x")]}
    fixed = SpecDeltaSet.model_validate(normalise_deltas({"deltas": [delta]}, existing={}))
    assert len(fixed.deltas[0].purpose) >= 50 and fixed.deltas[0].purpose.startswith("Split money")


def test_a_design_that_modifies_the_new_file_it_designs_passes_its_gate(demo_repo: Path, demo_request: str):
    from sdd_harness.graph.entry.api import run_change
    from tests.fakes.scripted import DemoScript, team

    class ModifiesANewFile(DemoScript):
        def sdd_design(self, user: str) -> dict:
            design = super().sdd_design(user)
            design["file_changes"].append({"path": "textkit/slugs.py", "action": "modify", "description": "helpers"})
            return design

    models = team(ModifiesANewFile())
    result = run_change(demo_request, demo_repo, "opencode-go", models=models, auto_approve=True)

    assert result.status == "done", result.reason
    assert len(models["sdd-design"].calls) == 1  # no paid retry
    changes = {c["path"]: c["action"] for c in result.state["outputs"]["sdd-design"]["file_changes"]}
    assert changes["textkit/slugs.py"] == "create" and changes["textkit/strings.py"] == "modify"


def test_a_model_that_runs_out_of_tokens_twice_is_not_asked_a_third_time():
    class LengthFinishReasonError(Exception):  # what openai raises when a structured reply hits max_tokens
        pass

    def looping(messages: list, kwargs: dict) -> str:
        raise LengthFinishReasonError("finish_reason=length")

    model = FakeChatModel(responder=looping)
    with pytest.raises(ModelOutputError, match="after 1 repair\\(s\\): the reply hit the output token limit"):
        asyncio.run(ask_structured(model, Proposal, [HumanMessage("propose")], repairs=2))
    assert len(model.calls) == 2
