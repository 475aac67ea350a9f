"""A file shown for an edit keeps what the change names and folds the rest; folded code merges back unchanged."""

from __future__ import annotations

from sdd_harness.graph.infra.outline import named_identifiers, new_definitions, outline
from sdd_harness.graph.infra.pyedit import merge_python

SOURCE = '''"""Helpers."""

import re

_SPACE = re.compile(r"\\s+")


def squash(text: str) -> str:
    """Collapse whitespace.

    >>> squash("a  b")
    'a b'
    """
    return _SPACE.sub(" ", text).strip()


def shorten(text: str, width: int) -> str:
    if width < 1:
        raise ValueError("width")
    return text[:width]


def one(): return 1


class Box:
    size = 3

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def total(self) -> int:
        return sum(self.items)
'''


def test_bodies_not_named_are_folded_and_the_rest_is_kept() -> None:
    shown = outline(SOURCE, keep={"shorten"})
    assert "def squash(text: str) -> str: ...  # Collapse whitespace.\n" in shown
    assert "return _SPACE.sub" not in shown and ">>>" not in shown
    assert 'raise ValueError("width")' in shown  # the named function stays whole
    assert '_SPACE = re.compile(r"\\s+")' in shown and "import re" in shown  # module-level code stays
    assert "def one(): return 1" in shown
    assert "size = 3" in shown and "return sum(self.items)" not in shown  # methods fold, class attributes stay


def test_a_named_class_or_method_is_shown_whole() -> None:
    assert "return sum(self.items)" in outline(SOURCE, keep={"Box"})
    by_method = outline(SOURCE, keep={"total"})
    assert "return sum(self.items)" in by_method and "self.items = items" not in by_method


def test_a_folded_file_copied_back_merges_to_the_original_code() -> None:
    folded = outline(SOURCE, keep=set())
    assert merge_python(SOURCE, folded).text == SOURCE
    commented = "def f(x):  # why\n    # how\n    return x\n"
    assert outline(commented, set()) == "def f(x):  # why\n    # how\n    ...  # (existing body hidden)\n"
    assert merge_python(commented, outline(commented, set())).text == commented


def test_unparsable_source_is_shown_as_it_is() -> None:
    assert outline("def broken(:\n", keep=set()) == "def broken(:\n"


def test_named_identifiers_reads_code_spans_and_prose() -> None:
    assert {"shorten", "width", "Box"} <= named_identifiers("Make `shorten(text, width)` strict.", "Box.total()")


def test_new_definitions_are_the_requests_callables_the_tasks_add_and_the_files_lack() -> None:
    request = "Add `slugify(text: str) -> str` to `pkg/strings.py`, and make `shorten(text, width)` strict."
    tasks = "1.1 Add `slugify` and make `shorten` strict — `pkg/strings.py`"
    assert new_definitions(request, tasks, {"pkg/strings.py": SOURCE}) == ["slugify"]  # shorten exists already
    assert new_definitions(request, "1.2 Re-export `slugify`", {"pkg/__init__.py": ""}) == []  # only imports there
    assert new_definitions(request, "1.1 Make `shorten` strict", {"pkg/strings.py": SOURCE}) == []
