"""Bounded answer text: a looping small model's string is closed by the schema and cleaned, not lost."""

from __future__ import annotations

from pydantic import BaseModel

from sdd_harness.graph.core.prose import bounded, code, cut_to, without_repeats
from sdd_harness.nodes.spec import SpecAnswer


class Answer(BaseModel):
    text: bounded(60)
    expr: code(40)


def test_repeated_sentences_are_dropped():
    looping = "It SHALL slug the text. It should be tested. " + "It should be tested. " * 30
    assert without_repeats(looping) == "It SHALL slug the text. It should be tested."


def test_long_text_is_cut_at_a_sentence_then_a_word():
    assert cut_to("One sentence here. Another sentence that runs long", 30) == "One sentence here."
    assert cut_to("words words words words words words", 20) == "words words words"
    assert cut_to("short", 20) == "short"


def test_a_looping_answer_validates_instead_of_failing():
    answer = Answer(text="A SHALL b. " + "Tested with the proposal. " * 10, expr="f(1)")
    assert answer.text == "A SHALL b. Tested with the proposal."


def test_code_is_limited_in_the_schema_but_never_cut():
    schema = Answer.model_json_schema()["properties"]
    assert schema["expr"]["maxLength"] == 40 and schema["text"]["maxLength"] == 60
    long_expr = "f(" + "1, " * 30 + ")"
    assert Answer(text="t", expr=long_expr).expr == long_expr


def test_spec_answer_schema_bounds_every_free_text_field():
    defs = SpecAnswer.model_json_schema()["$defs"]
    assert defs["RequirementAnswer"]["properties"]["text"]["maxLength"] <= 300
    assert defs["ScenarioAnswer"]["properties"]["call"]["maxLength"] <= 300
    assert defs["ScenarioAnswer"]["properties"]["expect"]["anyOf"][0]["maxLength"] <= 300


def test_a_string_a_grammar_closed_at_its_limit_ends_at_a_whole_word() -> None:
    class Line(BaseModel):
        text: bounded(40)

    closed = "The function takes two arguments: `cents` (an"[:40]
    assert Line(text=closed).text == "The function takes two arguments:"
