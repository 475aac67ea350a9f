"""The spec phase turns a small model's rough answer into cases and deltas without crashing."""

from __future__ import annotations

import pytest

from sdd_harness.graph.core.llm import ModelOutputError
from sdd_harness.graph.infra.contract import ModuleMap
from sdd_harness.graph.infra.request_items import extract
from sdd_harness.graph.infra.scenarios import with_request_examples
from sdd_harness.nodes.spec import SpecAnswer, deltas_of, to_cases

REQUEST = "Add `shout(text: str) -> str` to `pkg/words.py`: the text upper-cased with a '!' appended."


def answer(*requirements: list[dict]) -> SpecAnswer:
    return SpecAnswer.model_validate(
        {
            "capability": "shouting",
            "requirements": [
                {"name": f"req {i}", "text": "It SHALL shout.", "scenarios": scenarios}
                for i, scenarios in enumerate(requirements, 1)
            ],
        }
    )


def test_scenarios_all_named_alike_get_names_told_apart_by_their_call():
    spec = answer([{"name": "call", "call": "shout('a')", "expect": "'A!'"}, {"name": "call", "call": "shout('')"}])
    cases, _ = to_cases(spec, ModuleMap(), extract(REQUEST))
    assert [c.name for c in cases] == ["call", "call: shout('')"]


def test_expect_written_as_raises_sentence_becomes_a_raising_case():
    spec = answer([{"name": "bad", "call": "shout(None)", "expect": "raises TypeError"}])
    cases, problems = to_cases(spec, ModuleMap(), extract(REQUEST))
    assert problems == [] and cases[0].example.raises == "TypeError" and cases[0].example.expect is None


def test_a_requirement_whose_scenarios_all_repeat_another_is_left_out_of_the_delta():
    same = [{"name": "s", "call": "shout('a')", "expect": "'A!'"}]
    spec = answer(same, same)
    items = extract(REQUEST)
    cases, _ = to_cases(spec, ModuleMap(), items)
    cases = with_request_examples(items, cases)
    deltas = deltas_of(spec, cases, {})
    assert [r.name for d in deltas for r in [*d.added, *d.modified]] == ["req 1"]


def test_no_scenario_left_at_all_is_a_failed_attempt_not_a_crash():
    spec = answer([{"name": "s", "call": "shout('a')", "expect": "'A!'"}])
    with pytest.raises(ModelOutputError):
        deltas_of(spec, [], {})
