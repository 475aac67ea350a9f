"""A candidate's failures, told as call / result / expectation for the repair prompt."""

from __future__ import annotations

from sdd_harness.graph.infra.candidates import wrong_results

EVIDENCE = """- test_accents: AssertionError: assert 'caf' == 'cafe'
  - cafe
  + caf
- test_bound: Failed: DID NOT RAISE <class 'ValueError'>
- test_unrelated: AssertionError: assert 1 == 2"""


def test_each_failing_scenario_names_its_call_what_it_gave_and_what_it_should_do() -> None:
    expected = {
        "test_accents": ("slug('Café')", "return `'cafe'`"),
        "test_bound": ("slug('x', 0)", "raise `ValueError`"),
    }
    assert wrong_results(EVIDENCE, expected).splitlines() == [
        "- `slug('Café')` gave `'caf'`; it should return `'cafe'`",
        "- `slug('x', 0)` failed with Failed: DID NOT RAISE <class 'ValueError'>; it should raise `ValueError`",
    ]  # a test that is not a scenario (test_unrelated) stays in the raw output only


def test_no_scenarios_no_lines() -> None:
    assert wrong_results(EVIDENCE, {}) == ""
