"""Edits as code blocks: which file each block of a reply is for, and how a Python block merges into the file by
name — nothing the block does not name is touched, and a result that does not parse is refused."""

from __future__ import annotations

import ast

import pytest

from sdd_harness.graph.infra.pyedit import complete_part, diff_size, merge_python, read_blocks, without_echo

ALLOWED = ["shapes/geometry.py", "shapes/naming.py"]
CODE = "```python\nSIDES = 4\n```"

# ------------------------------------------------------------------------------------------ reading a reply


@pytest.mark.parametrize(
    "header",
    [
        "### shapes/geometry.py",
        "## `shapes/geometry.py`",
        "### ./shapes/geometry.py",
        "**shapes/geometry.py**",
        "File: shapes/geometry.py",
        "### File: shapes/geometry.py",
        "**File: shapes/geometry.py**",
        "### geometry.py",  # the allowed file it plainly means
        "### shapes/geometry.py (outline: bodies not needed here are hidden)",  # the prompt's own header, copied
    ],
)
def test_a_block_belongs_to_the_path_named_above_it(header: str) -> None:
    blocks, problems = read_blocks(f"Here you go.\n\n{header}\n\nThe change:\n{CODE}\n", ALLOWED)
    assert [(b.path, b.code) for b in blocks] == [("shapes/geometry.py", "SIDES = 4\n")]
    assert problems == []


def test_several_files_in_one_reply() -> None:
    reply = "### shapes/geometry.py\n```python\nA = 1\n```\n\n### shapes/naming.py\n```\nB = 2\n```\n"
    blocks, problems = read_blocks(reply, ALLOWED)
    assert [(b.path, b.code) for b in blocks] == [("shapes/geometry.py", "A = 1\n"), ("shapes/naming.py", "B = 2\n")]
    assert problems == []


def test_a_lone_unnamed_block_is_the_one_allowed_files() -> None:
    blocks, problems = read_blocks(CODE, ["shapes/naming.py"])
    assert [b.path for b in blocks] == ["shapes/naming.py"] and problems == []


def test_a_block_may_name_its_file_in_its_first_line() -> None:
    blocks, problems = read_blocks("```python\n# shapes/naming.py\nB = 2\n```", ALLOWED)
    assert [b.path for b in blocks] == ["shapes/naming.py"] and problems == []


def test_a_second_file_named_inside_one_block_is_its_own_block() -> None:
    reply = "### shapes/geometry.py\n```python\n# shapes/geometry.py\nA = 1\n\n# shapes/naming.py\nB = 2\n```"
    blocks, problems = read_blocks(reply, ALLOWED)
    assert [(b.path, b.code) for b in blocks] == [
        ("shapes/geometry.py", "# shapes/geometry.py\nA = 1\n"),
        ("shapes/naming.py", "# shapes/naming.py\nB = 2\n"),
    ]
    assert problems == []


def test_an_unnamed_block_goes_to_the_only_file_it_can_mean() -> None:
    code_and_tests = ["shapes/geometry.py", "tests/test_geometry.py"]
    test_block = "```python\ndef test_area():\n    assert area(2) == 4\n```"
    code_block = "```python\ndef area(side):\n    return side * side\n```"
    blocks, problems = read_blocks(f"{code_block}\n\n{test_block}", code_and_tests)
    assert [b.path for b in blocks] == ["shapes/geometry.py", "tests/test_geometry.py"] and problems == []
    current = {"shapes/geometry.py": "def area(side):\n    return 0\n", "shapes/naming.py": "def name():\n    pass\n"}
    blocks, problems = read_blocks(code_block, ALLOWED, current)  # two code files: the one defining `area`
    assert [b.path for b in blocks] == ["shapes/geometry.py"] and problems == []


def test_unnamed_blocks_of_a_new_module_and_its_re_export_find_their_files() -> None:
    """A change adding a module and re-exporting it: a block of new definitions is for the file not written
    yet, a block of imports only is for the package's ``__init__.py``."""
    group = ["shapes/hexagon.py", "shapes/__init__.py"]
    current = {"shapes/hexagon.py": None, "shapes/__init__.py": "from shapes.naming import name\n"}
    code_block = "```python\ndef hexagon_area(side):\n    return 2.598 * side * side\n```"
    export_block = "```python\nfrom shapes.hexagon import hexagon_area\n\n__all__ = ['name', 'hexagon_area']\n```"
    blocks, problems = read_blocks(f"{code_block}\n\n{export_block}", group, current)
    assert [b.path for b in blocks] == ["shapes/hexagon.py", "shapes/__init__.py"] and problems == []
    blocks, problems = read_blocks("```python\nSIDES = 6\n```", group, current)  # a constant: for which file?
    assert blocks == [] and "does not say which file" in problems[0]
    existing = {"shapes/hexagon.py": "SIDES = 6\n", "shapes/__init__.py": "from shapes.naming import name\n"}
    blocks, problems = read_blocks(code_block, group, existing)  # a new function beside the package face
    assert [b.path for b in blocks] == ["shapes/hexagon.py"] and problems == []
    two_new = {"shapes/hexagon.py": None, "shapes/octagon.py": None}
    blocks, problems = read_blocks(code_block, list(two_new), two_new)  # two new files: no guess
    assert blocks == [] and "does not say which file" in problems[0]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (CODE, "does not say which file"),  # two allowed files, nothing names one
        ("shapes/naming.py\n" + CODE, "does not say which file"),  # a bare path line is prose, not a header
        ("I would change the loop to use a set.", "no fenced code block"),
    ],
)
def test_a_reply_that_cannot_be_placed_says_why(reply: str, problem: str) -> None:
    blocks, problems = read_blocks(reply, ALLOWED)
    assert blocks == []
    assert len(problems) == 1 and problem in problems[0]


# ------------------------------------------------------------------------------------------ merging

CURRENT = '''"""Shapes."""

from __future__ import annotations

import math

SIDES = 4


def area(w, h):
    return w * h


def perimeter(w, h):
    return 2 * (w + h)


class Circle:
    """A circle."""

    kind = "round"

    def __init__(self, r):
        self.r = r

    def area(self):
        return math.pi * self.r**2

    @property
    def diameter(self):
        return 2 * self.r


def describe(shape):
    return shape.kind
'''


def merged(block: str, current: str | None = CURRENT) -> str:
    result = merge_python(current, block)
    assert result.problems == []
    ast.parse(result.text)
    return result.text


def test_a_new_import_is_added_once_after_the_existing_ones() -> None:
    text = merged("import math\nimport re\nfrom typing import Any\n")
    assert text.count("import math") == 1 and text.count("import re") == 1
    lines = text.splitlines()
    assert lines.index("import re") == lines.index("import math") + 1
    assert lines.index("from typing import Any") < lines.index("SIDES = 4")


def test_a_function_or_assignment_is_replaced_in_place_and_the_rest_is_untouched() -> None:
    text = merged(
        "SIDES = 3\n\n\ndef area(w, h):\n    if w < 0 or h < 0:\n        raise ValueError(w)\n    return w * h\n"
    )
    assert "SIDES = 3" in text and "SIDES = 4" not in text
    assert text.count("def area(w, h):") == 1 and "raise ValueError(w)" in text
    assert text.index("def area(w, h):") < text.index("def perimeter")  # where it was, not moved to the end
    assert (
        text.replace("SIDES = 3", "SIDES = 4").replace("    if w < 0 or h < 0:\n        raise ValueError(w)\n", "")
        == CURRENT
    )  # nothing else changed


def test_a_class_is_merged_method_by_method() -> None:
    block = (
        "class Circle:\n    kind = 'disc'\n\n"
        "    def area(self):\n        return 3 * self.r**2\n\n"
        "    def scale(self, k):\n        return Circle(self.r * k)\n"
    )
    tree = ast.parse(merged(block))
    (circle,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    members = [n.name if hasattr(n, "name") else ast.unparse(n) for n in circle.body]
    assert members == ["'A circle.'", "kind = 'disc'", "__init__", "area", "diameter", "scale"]
    (area,) = [n for n in circle.body if getattr(n, "name", "") == "area"]
    assert ast.unparse(area.body[0]) == "return 3 * self.r ** 2"


def test_a_decorated_class_is_merged_too() -> None:
    current = (
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Box:\n    w: int\n\n"
        "    def size(self):\n        return self.w\n\n"
        "    def keep(self):\n        return 1\n"
    )
    block = "@dataclass(frozen=True)\nclass Box:\n    w: int\n\n    def size(self):\n        return self.w * 2\n"
    text = merged(block, current)
    assert "@dataclass(frozen=True)\nclass Box:" in text and "@dataclass\n" not in text
    assert "return self.w * 2" in text and "def keep(self):" in text and text.count("class Box") == 1


@pytest.mark.parametrize("body", ["...", "pass", '"""Unchanged."""'])
def test_an_elided_body_keeps_the_old_code(body: str) -> None:
    text = merged(f"def area(w, h):\n    {body}\n\n\nclass Circle:\n    def area(self):\n        {body}\n")
    assert "    return w * h" in text and "return math.pi * self.r**2" in text


def test_new_definitions_are_appended() -> None:
    text = merged("def volume(w, h, d):\n    return area(w, h) * d\n\n\nclass Square:\n    pass\n")
    assert text.rstrip().endswith("class Square:\n    pass")
    assert text.index("def describe") < text.index("def volume") < text.index("class Square")


def test_a_new_file_is_the_block_itself() -> None:
    assert merge_python(None, "X = 1").text == "X = 1\n"
    assert merge_python("  \n", "X = 1\n").text == "X = 1\n"


def test_a_block_that_does_not_parse_is_refused_and_the_file_is_left_as_it_was() -> None:
    result = merge_python(CURRENT, "def area(w, h)\n    return w * h\n")
    assert result.text == CURRENT
    assert result.problems and "does not parse" in result.problems[0]


def test_a_merge_that_would_not_parse_is_refused_and_the_file_is_left_as_it_was() -> None:
    current = "class Box:\n    def size(self):\n        return 1\n"
    block = "class Box: depth = 2\n"  # a one-line class body cannot be merged line by line
    result = merge_python(current, block)
    assert result.text == current
    assert result.problems and "merged file does not parse" in result.problems[0]


def test_diff_size_counts_changed_lines() -> None:
    assert diff_size(None, "a\nb\n") == 2
    assert diff_size("a\nb\nc\n", "a\nB\nc\n") == 2  # one removed, one added
    assert diff_size("a\n", "a\n") == 0


def test_code_copied_from_the_prompts_example_is_left_out() -> None:
    example = "import math\n\n\ndef area(r):\n    return math.pi * r**2\n"
    prompt = f"Reply like this:\n\n### a/b.py\n```python\n{example}```\n"
    own = "\n\ndef slug(t):\n    return re.sub('x', '', t)\n"
    reply = f"```python\nimport re\n{example}{own}```"
    kept = without_echo(reply, prompt)
    assert "def area" not in kept and "import math" not in kept and "def slug" in kept and "import re" in kept
    uses_math = reply.replace("re.sub('x', '', t)", "math.floor(t)")
    assert "import math" in without_echo(uses_math, prompt)  # an import the model's own code needs stays


def test_a_path_header_the_model_fenced_on_its_own_names_the_block_after_it() -> None:
    """Seen from the 1.5B: the header in a fence of its own, the code's fence opening right after."""
    reply = "```python\n### path: shapes/naming.py\n```python\ndef name():\n    return 'x'\n```"
    blocks, problems = read_blocks(reply, ALLOWED)
    assert [(b.path, b.code) for b in blocks] == [("shapes/naming.py", "def name():\n    return 'x'\n")]
    assert problems == []


# ------------------------------------------------------------------------------------------ a reply cut off

CUT_MODULE = """import math


def area(r):
    return math.pi * r * r


def perimeter(r):
    return 2 * math.pi * r


def diameter(r):
    return 2 *"""


def test_a_block_whose_fence_never_closes_is_marked_cut_and_a_closed_one_is_not():
    reply = f"### shapes/geometry.py\n{CODE}\n\n### shapes/naming.py\n```python\ndef name(s):\n    return s"
    blocks, problems = read_blocks(reply, ALLOWED)
    assert problems == [] and [(b.path, b.cut) for b in blocks] == [(ALLOWED[0], False), (ALLOWED[1], True)]


def test_a_cut_block_keeps_its_whole_definitions_and_drops_the_one_it_was_writing():
    kept = complete_part(CUT_MODULE)
    tree = ast.parse(kept)
    assert [getattr(n, "name", None) for n in tree.body] == [None, "area", "perimeter"]


def test_the_definition_being_written_is_dropped_even_when_what_it_got_to_parses():
    cut = "def area(r):\n    return r * r\n\n\ndef perimeter(r):\n    total = 2 * r\n"  # no return yet
    assert complete_part(cut) == "def area(r):\n    return r * r\n"


def test_inside_a_cut_class_the_whole_methods_stay():
    cut = "class Circle:\n    def __init__(self, r):\n        self.r = r\n\n    def area(self):\n        return 3.1"
    kept = complete_part(cut)
    (cls,) = ast.parse(kept).body
    assert isinstance(cls, ast.ClassDef) and [m.name for m in cls.body] == ["__init__"]


def test_a_block_cut_before_one_whole_statement_keeps_nothing():
    assert complete_part("def area(r):\n    return math.pi *") == ""


def test_a_definition_whose_whole_body_is_one_call_replaces_the_old_one():
    current = "class LexError(ValueError):\n    def __init__(self, message):\n        self.message = message\n"
    block = "class LexError(ValueError):\n    def __init__(self, message):\n        super().__init__(message)\n"
    merged = merge_python(current, block)  # a one-call body once crashed the merge, and with it the run
    assert merged.problems == [] and "super().__init__(message)" in merged.text and "self.message" not in merged.text
