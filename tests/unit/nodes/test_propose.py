"""A proposal whose only fault is a copied schema description keeps its real content; what is missing then
comes from the request itself."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.messages import HumanMessage

from sdd_harness.graph.core.llm import ModelOutputError, ask_structured
from sdd_harness.nodes.propose import Proposal, with_request_defaults
from tests.fakes.chat import FakeChatModel

REQUEST = "Add `shout(text)` to `pkg/words.py`.\n- It upper-cases the text.\n- It appends '!'."


def answer(**fields) -> str:
    base = {
        "why": "Callers need an emphatic form of a text without writing it themselves.",
        "what_changes": ["Add shout()"],
        "approach": "A small function.",
        "success_criteria": ["shout('a') == 'A!'"],
    }
    return json.dumps({**base, **fields})


def ask(replies: list[str]) -> Proposal:
    model = FakeChatModel(replies=replies)
    prepare = lambda data: with_request_defaults(data, REQUEST)  # noqa: E731
    return asyncio.run(ask_structured(model, Proposal, [HumanMessage("propose")], prepare=prepare))


def test_copied_criteria_are_dropped_on_the_last_try_and_the_request_fills_the_gap():
    copied = answer(success_criteria=["Checkable outcomes."])
    proposal = ask([copied, copied, copied])
    assert proposal.why.startswith("Callers need")  # the real content is kept
    assert proposal.success_criteria[0] == "Done as the request says: Add `shout(text)` to `pkg/words.py`."
    assert "Checkable outcomes." not in proposal.success_criteria


def test_a_copied_answer_is_still_re_asked_first():
    proposal = ask([answer(success_criteria=["Checkable outcomes."]), answer()])
    assert proposal.success_criteria == ["shout('a') == 'A!'"]


def test_an_answer_that_never_parses_still_fails():
    with pytest.raises(ModelOutputError):
        ask(["not json"] * 3)


def test_a_runaway_proposal_line_is_cut_and_its_lists_are_bounded_for_grammars() -> None:
    schema = Proposal.model_json_schema()["properties"]
    assert schema["what_changes"]["maxItems"] == 5 and schema["success_criteria"]["maxItems"] == 4
    loop = "The function should be tested with an empty list of readings. " * 20
    proposal = Proposal(why=loop, what_changes=["a"] * 7, approach="Edit it.", success_criteria=[loop])
    assert proposal.why == "The function should be tested with an empty list of readings."
    assert len(proposal.what_changes) == 7  # a provider without grammars keeps its longer list
