"""The spec phase turns a small model's rough answer into cases and deltas without crashing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sdd_harness.graph.core.config import CONFIGS_DIR
from sdd_harness.graph.core.llm import ModelOutputError
from sdd_harness.graph.entry.api import run_change
from sdd_harness.graph.infra.modulemap import ModuleMap
from sdd_harness.graph.infra.request_items import extract
from sdd_harness.graph.infra.scenarios import with_request_examples
from sdd_harness.nodes.spec import SpecAnswer, deltas_of, to_cases
from tests.fakes.scripted import DemoScript, team

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


def test_a_scenario_on_an_object_it_never_made_gets_the_object_made_first():
    request = "Extend `Tally` in `pkg/tally.py`: `add(word)` now rejects an empty word with `ValueError`."
    modules = ModuleMap(existing={"pkg.tally": {"Tally"}}, makeable={"Tally": {"add"}})
    spec = answer([{"name": "empty", "call": "tally.add('')", "raises": "ValueError", "module": "pkg.tally"}])
    cases, problems = to_cases(spec, modules, extract(request))
    assert problems == [] and cases[0].example.setup == ["tally = Tally()"]


def test_a_requirement_whose_scenarios_all_repeat_another_is_left_out_of_the_delta():
    same = [{"name": "s", "call": "shout('a')", "expect": "'A!'"}]
    spec = answer(same, same)
    items = extract(REQUEST)
    cases, _ = to_cases(spec, ModuleMap(), items)
    cases = with_request_examples(items, cases)
    deltas = deltas_of(spec, cases, {})
    assert [r.name for d in deltas for r in [*d.added, *d.modified]] == ["req 1"]


def test_a_request_with_many_worked_examples_still_gets_its_spec():
    examples = ", ".join(f"`shout('{c}') == '{c.upper()}!'`" for c in "abcdefghijklmnop")
    request = f"{REQUEST} E.g. {examples}."
    spec = answer([{"name": "s", "call": "shout('q')", "expect": "'Q!'"}, {"name": "t", "call": "shout('r')"}])
    items = extract(request)
    cases = with_request_examples(items, to_cases(spec, ModuleMap(), items)[0])
    deltas = deltas_of(spec, cases, {})
    scenarios = [s for d in deltas for r in [*d.added, *d.modified] for s in r.scenarios]
    assert len(scenarios) == 18  # 16 of the request's and the model's 2: one requirement holds them all


def test_no_scenario_left_at_all_is_a_failed_attempt_not_a_crash():
    spec = answer([{"name": "s", "call": "shout('a')", "expect": "'A!'"}])
    with pytest.raises(ModelOutputError):
        deltas_of(spec, [], {})


@dataclass
class StatementScenario(DemoScript):
    """Spec writes one scenario's call as a statement; asked for what is missing, it answers with a pytest test."""

    def sdd_spec(self, user: str) -> dict | str:
        if "Write one test for each line above" in user:
            return (
                "```python\nfrom textkit.strings import slugify\n\n"
                "def test_cut_without_a_trailing_dash():\n    text = 'hello world'\n"
                "    assert slugify(text, max_length=6) == 'hello'\n```"
            )
        answer = super().sdd_spec(user)
        answer["requirements"][0]["scenarios"][2]["call"] = "text = slugify('hello world', max_length=6)"
        return answer


def test_a_scenario_written_as_invalid_code_is_replaced_by_the_test_the_model_writes_for_it(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    result = run_change(
        slugify_request,
        demo_repo,
        CONFIGS_DIR / "opencode-go.yaml",
        models=team(StatementScenario()),
        auto_approve=True,
    )
    cases = result.state["outputs"]["sdd-spec"]["cases"]
    by_name = {c["name"]: c for c in cases}
    assert "Cut without a trailing dash" not in by_name  # the invalid one is gone, not kept as prose
    cut = by_name["cut without a trailing dash"]
    assert cut["example"]["setup"] == ["text = 'hello world'"] and cut["example"]["module"] == "textkit.strings"
    assert cut["red"] == "new" and cut["test"].endswith("::test_cut_without_a_trailing_dash")


@dataclass
class UncreatedObject(DemoScript):
    """Spec calls a method on an object it never makes; asked to mend it, it writes the test again."""

    def sdd_spec(self, user: str) -> dict | str:
        if "These tests are broken" in user:
            assert "test_basic_slug" in user
            return (
                "```python\nfrom textkit.strings import slugify\n\n"
                "def test_basic_slug():\n    assert slugify('Hello, World!') == 'hello-world'\n```"
            )
        answer = super().sdd_spec(user)
        answer["requirements"][0]["scenarios"][0]["call"] = "slugger.make('Hello, World!')"
        return answer


def test_a_broken_scenario_test_is_written_again_under_its_own_name(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    result = run_change(
        slugify_request, demo_repo, CONFIGS_DIR / "opencode-go.yaml", models=team(UncreatedObject()), auto_approve=True
    )
    basic = next(c for c in result.state["outputs"]["sdd-spec"]["cases"] if c["name"] == "Basic slug")
    assert basic["example"]["call"] == "slugify('Hello, World!')" and basic["red"] == "new"


def test_a_new_object_compared_with_a_plain_value_is_not_a_test():
    request = "Add a class `Ring` in `pkg/ring.py`: `Ring(size: int)`, `push(value)`, `values() -> list`."
    spec = answer(
        [
            {"name": "state", "call": "Ring(2)", "expect": "[1]"},
            {"name": "values", "call": "Ring(2).values()", "expect": "[]"},
            {"name": "bad size", "call": "Ring(0)", "raises": "ValueError"},
        ]
    )
    cases, problems = to_cases(spec, ModuleMap(), extract(request))
    assert [c.name for c in cases if c.example] == ["values", "bad size"]
    assert problems == [
        "scenario 'state': `Ring(2)` makes a new object and never equals `[1]`: check what a method returns"
    ]


@dataclass
class AgainstKeptTests(DemoScript):
    """Spec adds a scenario that gives a call the user's own tests check another outcome."""

    def sdd_spec(self, user: str) -> dict | str:
        answer = super().sdd_spec(user)
        answer["requirements"][0]["scenarios"].append(
            {"name": "short text", "call": "truncate('short', 10)", "expect": "'sho...'", "module": "textkit.strings"}
        )
        return answer


def test_a_scenario_contradicting_the_users_own_tests_does_not_become_a_contract_test(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    result = run_change(
        slugify_request, demo_repo, CONFIGS_DIR / "opencode-go.yaml", models=team(AgainstKeptTests()), auto_approve=True
    )
    calls = [c["example"]["call"] for c in result.state["outputs"]["sdd-spec"]["cases"] if c["example"]]
    assert "truncate('short', 10)" not in calls and "slugify('Hello, World!')" in calls
