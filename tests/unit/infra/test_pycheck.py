"""Static checks that catch small-model slips before the tests run."""

from __future__ import annotations

from sdd_harness.graph.infra.pycheck import defined_tests, undefined_names

BROKEN = """import re

LIMIT = 3


def truncate(text: str, width: int) -> str:
    return text[:width]


def slugify(text: str, max_length: int = 50) -> str:
    if max_length < 1:
        raise ValueError(f"bad {width}")
    words = re.findall(r"\\w+", text)
    return "-".join(words)[: max_length - len(suffix)] + LIMIT * ""
"""


def test_undefined_names_are_found_with_their_line():
    assert undefined_names(BROKEN) == [("width", 12), ("suffix", 14)]


def test_clean_code_has_none():
    clean = BROKEN.replace("{width}", "{max_length}").replace(" - len(suffix)", "")
    assert undefined_names(clean) == []


def test_scoping_follows_python_not_a_guess():
    """Cases a hand-written scope walk got wrong: a name defined in a top-level loop or by ``global`` is
    defined; an import inside another function, a top-level use and a string annotation are checked."""
    assert undefined_names("while True:\n    retries = 3\n    break\n\n\ndef f():\n    return retries\n") == []
    assert undefined_names("def f():\n    global COUNT\n    COUNT = 1\n\n\ndef g():\n    return COUNT\n") == []
    assert undefined_names("def setup():\n    import os\n\n\ndef g():\n    return os.getcwd()\n") == [("os", 6)]
    assert undefined_names("import re\nPATTERN = re.compile(FLAGS)\n") == [("FLAGS", 2)]
    assert undefined_names("def f(a: 'Money') -> int:\n    return 1\n") == [("Money", 1)]
    assert undefined_names("def f(xs):\n    ys = [x for x in xs]\n    return x, ys\n") == [("x", 3)]


def test_star_imports_and_syntax_errors_are_not_guessed_at():
    assert undefined_names("from os.path import *\n\ndef f():\n    return join('a')\n") == []
    assert undefined_names("def f(:\n") == []


def test_defined_tests_are_listed():
    assert defined_tests("def test_a():\n    pass\n\nasync def test_b():\n    pass\n\ndef helper():\n    pass\n") == {
        "test_a",
        "test_b",
    }


def test_imports_are_added_after_the_existing_ones_with_module_paths_from_files():
    from sdd_harness.graph.infra.pycheck import module_of, top_level_names, with_imports

    assert module_of("money/amounts.py") == "money.amounts"
    assert module_of("src/shop/__init__.py") == "shop"
    assert top_level_names("import re\nX = 1\ndef f(): ...\nclass C: ...\n") == {"X", "f", "C"}
    source = '"""Doc."""\nimport re\n\n\ndef test_x():\n    assert split_cents(3, 1) == [3]\n'
    assert with_imports(source, ["from money.amounts import split_cents"]).startswith(
        '"""Doc."""\nimport re\nfrom money.amounts import split_cents\n\n\ndef test_x'
    )
