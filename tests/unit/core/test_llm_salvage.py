"""A structured reply cut off at max_tokens keeps its complete part instead of costing a whole re-ask."""

from __future__ import annotations

import asyncio

import openai
import pytest
from langchain_core.messages import HumanMessage
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, Field

from sdd_harness.graph.core.llm import ModelOutputError, ask_structured, salvaged
from tests.fakes.chat import FakeChatModel


class Case(BaseModel):
    name: str
    expect: str


class Group(BaseModel):
    name: str
    cases: list[Case] = Field(min_length=1)


class Answer(BaseModel):
    title: str
    groups: list[Group] = Field(min_length=1)


def cut_off(text: str) -> openai.LengthFinishReasonError:
    """What openai raises when a structured reply hits max_tokens, carrying the text written so far."""
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": text}}],
        }
    )
    return openai.LengthFinishReasonError(completion=completion)


TWO_GROUPS_THEN_CUT = (
    '{"title": "t", "groups": [{"name": "a", "cases": [{"name": "a1", "expect": "1"}, {"name": "a2", "expect": "2"}]},'
    ' {"name": "b", "cases": [{"name": "b1", "expect": "3"}, {"name": "b2", "expect": "\'hello-wor'
)


def test_the_complete_part_is_kept_and_the_entry_being_written_is_dropped():
    answer = salvaged(Answer, TWO_GROUPS_THEN_CUT)
    assert answer is not None
    assert [(g.name, [c.name for c in g.cases]) for g in answer.groups] == [("a", ["a1", "a2"]), ("b", ["b1"])]
    # the value cut mid-string would have validated (and been wrong): it is never kept
    assert all(c.expect != "'hello-wor" for g in answer.groups for c in g.cases)


def test_a_group_left_without_a_complete_case_goes_too():
    text = (
        '{"title": "t", "groups": [{"name": "a", "cases": [{"name": "a1", "expect": "1"}]},'
        ' {"name": "b", "cases": [{"na'
    )
    answer = salvaged(Answer, text)
    assert answer is not None and [g.name for g in answer.groups] == ["a"]


@pytest.mark.parametrize("text", ["", "no json at all", '{"title": "t", "groups": [{"name": "a", "cases": [{"name"'])
def test_nothing_complete_means_nothing_salvaged(text: str):
    assert salvaged(Answer, text) is None


def test_a_cut_off_reply_with_a_complete_part_costs_one_call():
    def replies(messages: list, kwargs: dict) -> str:
        raise cut_off(TWO_GROUPS_THEN_CUT)

    model = FakeChatModel(responder=replies)
    answer = asyncio.run(ask_structured(model, Answer, [HumanMessage("answer")], repairs=2))
    assert len(model.calls) == 1 and [g.name for g in answer.groups] == ["a", "b"]


def test_a_reply_cut_before_anything_complete_is_asked_again_and_bounded():
    def replies(messages: list, kwargs: dict) -> str:
        raise cut_off('{"title": "t", "groups": [{"name": "a", "cases": [{"name": "a1", "exp')

    model = FakeChatModel(responder=replies)
    with pytest.raises(ModelOutputError, match="output token limit"):
        asyncio.run(ask_structured(model, Answer, [HumanMessage("answer")], repairs=2))
    assert len(model.calls) == 2


def test_a_design_cut_off_in_its_file_list_keeps_the_files_it_finished():
    from sdd_harness.nodes.design import Design

    cut = (
        '{"approach": "Add a module.", "file_changes": [{"path": "pkg/a.py", "action": "create", '
        '"description": "the new code"}, {"path": "pkg/__init__.py", "action": "modify", "descr'
    )
    design = salvaged(Design, cut)
    assert design is not None and [f.path for f in design.file_changes] == ["pkg/a.py"]
