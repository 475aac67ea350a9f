"""An expected value that can never equal what its call is declared to return is not a test: the code's return
annotations and the request's signatures say the shape; where they cannot tell, nothing is judged."""

from __future__ import annotations

import pytest

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.modulemap import ModuleMap
from sdd_harness.graph.infra.request_items import extract
from sdd_harness.graph.infra.returntypes import declared_returns, request_returns, wrong_shape
from sdd_harness.graph.infra.scenarios import not_a_test

LEXER = """from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(source: str) -> list[Token]:
    return []


class Book:
    def average(self, student: str) -> float:
        return 0.0

    def names(self) -> list[str]:
        return []


class Shelf:
    def names(self) -> tuple[str, ...]:
        return ()


class Loud(str):
    pass
"""


def test_the_codes_return_annotations_are_read_and_a_name_declared_two_ways_is_left_out() -> None:
    returns, plain = declared_returns(LEXER)
    assert returns == {"tokenize": "list[Token]", "average": "float"}
    assert plain == {"Token", "Book", "Shelf"}  # Loud subclasses str: it can equal a string


@pytest.mark.parametrize(
    ("call", "expect"),
    [
        ("tokenize('3.25')", "['number', '3.25']"),  # strings where the code returns tokens
        ("tokenize('3.25')", "('number', '3.25')"),  # a tuple where it returns a list
        ("book.average('Ada')", "'85.0'"),
        ("book.average('Ada')", "[85.0]"),
    ],
)
def test_a_value_of_another_shape_than_the_declared_return_is_named(call: str, expect: str) -> None:
    returns, plain = declared_returns(LEXER)
    assert "can never equal one" in wrong_shape(Example(call=call, expect=expect), returns, plain)


@pytest.mark.parametrize(
    ("call", "expect"),
    [
        ("tokenize('3.25')", "[Token('number', '3.25')]"),  # a call in the value: not judged
        ("tokenize('')", "[]"),
        ("book.average('Ada')", "85"),  # 85 == 85.0
        ("book.average('Ada')", "True"),  # True == 1.0 is not impossible either
        ("len(tokenize('1'))", "1"),  # the outer call declares nothing
        ("unknown('x')", "'x'"),
    ],
)
def test_a_value_that_can_equal_the_declared_return_or_cannot_be_judged_passes(call: str, expect: str) -> None:
    returns, plain = declared_returns(LEXER)
    assert wrong_shape(Example(call=call, expect=expect), returns, plain) == ""


def test_the_requests_signature_says_the_shape_of_a_method_it_adds() -> None:
    returns = request_returns(
        ["ranking() -> list[tuple[str, float]]", "add(student, score)", "to_roman(n: int) -> str"]
    )
    assert returns == {"ranking": "list[tuple[str, float]]", "to_roman": "str"}
    assert wrong_shape(Example(call="book.ranking()", expect="[['Ada', 80.0]]"), returns, set())
    assert wrong_shape(Example(call="book.ranking()", expect="[('Ada', 80), ('Bo', 7.5)]"), returns, set()) == ""
    assert wrong_shape(Example(call="book.ranking()", expect="[('Ada', 80, 1)]"), returns, set())
    assert wrong_shape(Example(call="to_roman(4)", expect="4"), returns, set())


@pytest.mark.parametrize(
    ("annotation", "expect", "wrong"),
    [
        ("Optional[int]", "None", False),
        ("Optional[int]", "'4'", True),
        ("int | None", "None", False),
        ("int | None", "'4'", True),
        ("Union[int, str]", "'4'", False),
        ("dict[str, int]", "{'a': 1}", False),
        ("dict[str, int]", "{'a': 'b'}", True),
        ("Dict[str, int]", "[('a', 1)]", True),
        ("set[int]", "{1, 2}", False),
        ("None", "0", True),
        ("Iterable[str]", "5", False),  # not a shape this reads: not judged
    ],
)
def test_unions_optionals_and_containers(annotation: str, expect: str, wrong: bool) -> None:
    example = Example(call="f()", expect=expect)
    assert bool(wrong_shape(example, {"f": annotation}, set())) is wrong


def test_the_request_overrides_the_code_and_a_wrong_shape_is_not_a_test() -> None:
    request = "Change `tokenize(source: str) -> list[str]` in `calc/lexer.py` to return the texts only."
    returns, plain = declared_returns(LEXER)
    modules = ModuleMap(existing={"calc.lexer": {"Token", "tokenize"}}, returns=returns, plain=plain)
    example = Example(call="tokenize('1 + 2')", expect="['1', '+', '2']", module="calc.lexer")
    assert not_a_test(example, extract(request), request, {"Token", "tokenize"}, modules) == ""
    other = "Extend `tokenize` in `calc/lexer.py`: `(` becomes a token of kind `lparen`."
    assert "`tokenize` returns `list[Token]`" in not_a_test(example, extract(other), other, {"tokenize"}, modules)
