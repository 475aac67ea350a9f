"""Pytest tests a model wrote become scenario examples: setup, one call, and its value or exception."""

from __future__ import annotations

from sdd_harness.graph.infra.pytest_examples import examples_from_tests

STATEFUL = """Here are the tests:
```python
import pytest
from pkg.queue import Box

def test_oldest_dropped_when_full():
    box = Box(2)
    box.put(1)
    box.put(2)
    box.put(3)
    assert box.items() == [2, 3]

def test_take_twice():
    box = Box(2)
    box.put(1)
    assert box.take() == 1
    assert box.take() is None

def test_capacity_below_one():
    with pytest.raises(ValueError):
        Box(0)

def test_full_flag():
    box = Box(1)
    assert not box.full()
    box.put(5)
    assert box.full()
```
"""


def by_name(text: str) -> dict:
    return {read.name: read.example for read in examples_from_tests(text)}


def test_a_stateful_test_becomes_setup_then_one_checked_call():
    example = by_name(STATEFUL)["oldest dropped when full"]
    assert example.setup == ["box = Box(2)", "box.put(1)", "box.put(2)", "box.put(3)"]
    assert (example.call, example.expect, example.raises) == ("box.items()", "[2, 3]", None)
    assert example.module == "pkg.queue"


def test_each_assert_is_an_example_that_sees_the_calls_checked_before_it():
    examples = by_name(STATEFUL)
    first, second = examples["take twice (1)"], examples["take twice (2)"]
    assert (first.call, first.expect) == ("box.take()", "1")
    assert second.setup == ["box = Box(2)", "box.put(1)", "box.take()"] and second.expect == "None"
    assert (examples["full flag (1)"].expect, examples["full flag (2)"].expect) == ("False", "True")


def test_checks_of_a_function_on_literal_values_are_independent_examples():
    text = (
        "```python\nimport pytest\nfrom pkg.names import snake\n\ndef test_snake():\n"
        "    assert snake('aB') == 'a_b'\n    assert snake('cD') == 'c_d'\n"
        "    with pytest.raises(ValueError):\n        snake('')\n```"
    )
    examples = [read.example for read in examples_from_tests(text)]
    assert [(e.setup, e.call) for e in examples] == [([], "snake('aB')"), ([], "snake('cD')"), ([], "snake('')")]


def test_a_raises_block_is_an_error_case():
    example = by_name(STATEFUL)["capacity below one"]
    assert (example.call, example.raises, example.expect) == ("Box(0)", "ValueError", None)


def test_tests_with_parameters_or_loops_are_skipped_not_guessed():
    text = """```python
from pkg.queue import Box

def test_param(size):
    assert Box(size).items() == []

def test_loop():
    box = Box(3)
    for i in range(3):
        box.put(i)
    assert box.items() == [0, 1, 2]

def test_kept():
    assert Box(1).items() == []
```"""
    assert list(by_name(text)) == ["kept"]


def test_a_reply_cut_at_the_output_limit_keeps_its_finished_tests():
    text = STATEFUL.split("def test_full_flag")[0] + "def test_cut():\n    box = Box(\n"
    names = list(by_name(text))  # no closing fence, the last test unfinished
    assert names == ["oldest dropped when full", "take twice (1)", "take twice (2)", "capacity below one"]


def test_called_names_say_which_requirement_an_example_belongs_to():
    reads = {read.name: read for read in examples_from_tests(STATEFUL)}
    assert reads["oldest dropped when full"].called() == ["items"]
    assert reads["capacity below one"].called() == ["Box"]


def test_an_approx_comparison_keeps_the_plain_value_the_rendered_test_compares_approximately():
    text = "```python\nimport pytest\nfrom pkg.stats import mean\n\ndef test_mean():\n"
    text += "    assert mean([1, 2]) == pytest.approx(1.5)\n```"
    example = by_name(text)["mean"]
    assert (example.call, example.expect) == ("mean([1, 2])", "1.5")
