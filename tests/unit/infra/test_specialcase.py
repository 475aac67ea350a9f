"""A scenario test passed by returning its expected value for its exact input does not count as passed."""

from __future__ import annotations

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.specialcase import special_cased

EXAMPLES = {
    "t::test_reads": Example(call="from_roman('MCMXCIV')", expect="1994"),
    "t::test_lower": Example(call="from_roman('xiv')", expect="14"),
    "t::test_empty": Example(call="from_roman('')", raises="ValueError"),
    "t::test_one": Example(call="from_roman('I')", expect="1"),
}

GAMED = """def from_roman(text: str) -> int:
    if not text:
        raise ValueError("empty")
    if text.lower() == "mcmxciv":
        return 1994
    elif text.upper() in ("XIV", "XV"):
        return 14
    if text == "I":
        return 1
    raise ValueError(text)
"""

GENERAL = """VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def from_roman(text: str) -> int:
    if not text:
        raise ValueError("empty")
    total = 0
    for char, after in zip(text.upper(), text.upper()[1:] + " "):
        value = VALUES[char]
        total += -value if after != " " and VALUES[after] > value else value
    return total
"""


def test_a_lookup_of_the_scenarios_input_and_expected_value_is_found() -> None:
    assert special_cased({"num/roman.py": GAMED}, EXAMPLES) == {"t::test_reads", "t::test_lower"}


def test_general_code_and_trivial_values_are_not_special_cases() -> None:
    assert special_cased({"num/roman.py": GENERAL}, EXAMPLES) == set()
    assert special_cased({"num/roman.py": GAMED}, {"t::test_one": EXAMPLES["t::test_one"]}) == set()  # 'I' -> 1
    assert special_cased({"notes.md": GAMED, "num/broken.py": "def (:"}, EXAMPLES) == set()
