"""Deterministic repairs for the mistakes small models make, before any re-ask is paid for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from sdd_harness.graph.core.llm import ModelOutputError, ask_structured, extract_json, parroted_fields
from sdd_harness.graph.infra.openspec import SpecDeltaSet
from sdd_harness.graph.infra.openspec.repair import normalise_deltas
from sdd_harness.nodes.explore import Exploration, with_known_files
from sdd_harness.nodes.propose import Proposal
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


def test_the_spec_answer_schema_forces_a_scenario_and_existing_names_become_modified():
    from pydantic import ValidationError

    from sdd_harness.graph.infra.modulemap import ModuleMap
    from sdd_harness.graph.infra.request_items import RequestItems
    from sdd_harness.nodes.spec import SpecAnswer, deltas_of, to_cases

    schema = SpecAnswer.model_json_schema()
    assert schema["properties"]["requirements"]["minItems"] == 1  # the grammar forbids an empty spec
    assert schema["$defs"]["RequirementAnswer"]["properties"]["scenarios"]["minItems"] == 1
    with pytest.raises(ValidationError):
        SpecAnswer.model_validate({"capability": "parsing", "requirements": []})
    scenario = {"name": "Basic", "call": "slug('A b')", "expect": "'a-b'"}
    answer = SpecAnswer.model_validate(
        {
            "capability": "text-slugs",
            "requirements": [
                {"name": "Slugify Text", "text": "It SHALL slug.", "scenarios": [scenario]},
                {"name": "Limit Length", "text": "It SHALL cut.", "scenarios": [dict(scenario, name="Cut")]},
            ],
        }
    )
    cases, invalid = to_cases(answer, ModuleMap(), RequestItems())
    assert invalid == [] and [c.requirement_id for c in cases] == ["R1", "R2"]
    deltas = deltas_of(answer, cases, {"text-slugs": {"Slugify Text"}})
    assert [r.name for r in deltas[0].modified] == ["Slugify Text"]
    assert [r.name for r in deltas[0].added] == ["Limit Length"]


def test_a_capability_split_over_several_entries_is_merged():
    one = {"capability": "pages", "added": [dict(REQ, text="It SHALL page.")]}
    two = {"capability": "pages", "added": [dict(REQ, name="Count Pages", text="It SHALL count.")]}
    fixed = SpecDeltaSet.model_validate(normalise_deltas({"deltas": [one, two]}, existing={}))
    assert len(fixed.deltas) == 1 and [r.name for r in fixed.deltas[0].added] == ["Slugify Text", "Count Pages"]


def test_a_short_purpose_for_a_new_capability_is_extended_to_fifty_characters():
    delta = {"capability": "money/amounts", "purpose": "Split money", "added": [dict(REQ, name="Split", text="x")]}
    fixed = SpecDeltaSet.model_validate(normalise_deltas({"deltas": [delta]}, existing={}))
    assert len(fixed.deltas[0].purpose) >= 50 and fixed.deltas[0].purpose.startswith("Split money")


def test_a_design_that_modifies_the_new_file_it_designs_passes_its_gate(demo_repo: Path, slugify_request: str):
    from sdd_harness.graph.entry.api import run_change
    from tests.fakes.scripted import DemoScript, team

    class ModifiesANewFile(DemoScript):
        def sdd_design(self, user: str) -> dict:
            design = super().sdd_design(user)
            design["file_changes"].append({"path": "textkit/slugs.py", "action": "modify", "description": "helpers"})
            return design

    models = team(ModifiesANewFile())
    result = run_change(slugify_request, demo_repo, "opencode-go", models=models, auto_approve=True)

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


def test_a_requirement_saying_should_reads_shall_instead_of_getting_a_prefix():
    text = "The function `f` should reject an empty name."
    data = {
        "deltas": [{"capability": "names", "purpose": "Names for things, checked.", "added": [dict(REQ, text=text)]}]
    }
    fixed = SpecDeltaSet.model_validate(normalise_deltas(data, existing={}))
    assert fixed.deltas[0].added[0].text == "The function `f` SHALL reject an empty name."
