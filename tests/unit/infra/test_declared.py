"""The exception classes a request declares, added to a candidate that writes their file without them."""

from __future__ import annotations

from sdd_harness.graph.infra.declared import docstring, with_new_exceptions
from sdd_harness.graph.infra.request_items import NewException

NEW = NewException(name="BadDateError", base="ValueError", path="cal/dates.py", raised_for="A date out of range")
MODULE = '"""Dates."""\n\nimport re\n\n\ndef parse_date(text):\n    raise BadDateError(text)\n'


def test_a_candidate_writing_the_file_without_the_class_gets_it_before_its_first_definition() -> None:
    out = with_new_exceptions({"cal/dates.py": MODULE}, [NEW])
    assert out["cal/dates.py"] == (
        '"""Dates."""\n\nimport re\n\n\nclass BadDateError(ValueError):\n'
        '    """Raised for a date out of range."""\n\n\ndef parse_date(text):\n    raise BadDateError(text)\n'
    )
    namespace: dict[str, object] = {}
    exec(compile(out["cal/dates.py"], "dates.py", "exec"), namespace)  # noqa: S102 - the candidate runs
    raised = namespace["BadDateError"]
    assert isinstance(raised, type) and issubclass(raised, ValueError)


def test_a_class_the_candidate_has_or_cannot_take_is_left_alone() -> None:
    own = MODULE + "\n\nclass BadDateError(Exception):\n    pass\n"
    imported = MODULE.replace("import re\n", "import re\n\nfrom cal.errors import BadDateError\n")
    for text in (own, imported, "def broken(:\n", MODULE):
        wanted = [NEW] if text != MODULE else [NEW.model_copy(update={"base": "DateProblem"})]  # no such base
        assert with_new_exceptions({"cal/dates.py": text}, wanted) == {"cal/dates.py": text}
    assert with_new_exceptions({"cal/other.py": MODULE}, [NEW]) == {"cal/other.py": MODULE}  # not its file


def test_a_base_the_file_defines_will_do_and_an_empty_file_gets_the_class_alone() -> None:
    base = MODULE.replace("import re\n", "import re\n\n\nclass DateProblem(Exception):\n    pass\n")
    wanted = [NEW.model_copy(update={"base": "DateProblem"})]
    assert "class BadDateError(DateProblem):" in with_new_exceptions({"cal/dates.py": base}, wanted)["cal/dates.py"]
    assert with_new_exceptions({"cal/dates.py": ""}, [NEW])["cal/dates.py"].startswith("class BadDateError(ValueError)")


def test_the_docstring_says_what_raises_it_or_only_its_kind() -> None:
    assert docstring(NEW) == "Raised for a date out of range."
    assert docstring(NEW.model_copy(update={"raised_for": "Both must"})) == "A ``ValueError`` of this module."
    assert docstring(NEW.model_copy(update={"raised_for": ""})) == "A ``ValueError`` of this module."
