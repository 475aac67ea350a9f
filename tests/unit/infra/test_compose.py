"""A composite candidate takes each definition from the candidate that passes most of the tests using it."""

from __future__ import annotations

from sdd_harness.graph.infra.compose import composed
from sdd_harness.graph.infra.selection import Score

PARSE_OK = "def parse(text):\n    return int(text, 16)\n"
PARSE_BAD = "def parse(text):\n    return int(text)\n"
FORMAT_OK = "def show(n):\n    return f'{n:02x}'\n"
FORMAT_BAD = "def show(n):\n    return f'{n:02X}'\n"
USES = {"t::parse_a": {"parse"}, "t::parse_b": {"parse"}, "t::show_a": {"show"}}


def score(label: str, text: str, passed: list[str]) -> Score:
    failed = [t for t in USES if t not in passed]
    return Score(label=label, files={"pkg/hexes.py": text}, passed=passed, failed=failed, points=len(passed))


def test_each_definition_comes_from_the_candidate_that_passes_its_tests():
    parses = score("a", f"import re\n\n\n{PARSE_OK}\n\n{FORMAT_BAD}", ["t::parse_a", "t::parse_b"])
    shows = score("b", f"import string\n\n\n{PARSE_BAD}\n\n{FORMAT_OK}", ["t::show_a"])
    mixed = composed([parses, shows], USES)["pkg/hexes.py"]
    assert PARSE_OK in mixed and FORMAT_OK in mixed and FORMAT_BAD not in mixed
    assert mixed.startswith("import re\nimport string\n")  # the swapped-in version's imports come along
    namespace: dict = {}
    exec(compile(mixed, "hexes", "exec"), namespace)
    assert (namespace["parse"]("ff"), namespace["show"](255)) == (255, "ff")


def test_a_definition_the_best_candidate_lacks_is_added_from_one_that_has_it():
    parses = score("a", PARSE_OK, ["t::parse_a", "t::parse_b"])
    shows = score("b", FORMAT_OK, ["t::show_a"])
    mixed = composed([parses, shows], USES)["pkg/hexes.py"]
    assert PARSE_OK in mixed and FORMAT_OK in mixed


def test_nothing_is_composed_when_no_other_candidate_does_better_on_any_definition():
    best = score("a", f"{PARSE_OK}\n\n{FORMAT_OK}", ["t::parse_a", "t::parse_b", "t::show_a"])
    worse = score("b", f"{PARSE_BAD}\n\n{FORMAT_BAD}", [])
    assert composed([best, worse], USES) == {}
    assert composed([best], USES) == {}


def test_a_swapped_in_version_brings_the_module_level_names_it_uses():
    parses = score("a", f"{PARSE_OK}\n\n{FORMAT_BAD}", ["t::parse_a", "t::parse_b"])
    table = "_DIGITS = '0123456789abcdef'\n\n\ndef show(n):\n    return _DIGITS[n // 16] + _DIGITS[n % 16]\n"
    shows = score("b", f"{PARSE_BAD}\n\n{table}", ["t::show_a"])
    mixed = composed([parses, shows], USES)["pkg/hexes.py"]
    namespace: dict = {}
    exec(compile(mixed, "hexes", "exec"), namespace)
    assert (namespace["parse"]("ff"), namespace["show"](255)) == (255, "ff")
