"""Undefined names a small model slipped on, mended in code; a name with no clear meaning is left alone."""

from __future__ import annotations

from sdd_harness.graph.infra.namefix import mended, mended_candidates
from sdd_harness.graph.infra.selection import Score

SLIPPED = """def format_all(values: list[float], decimals: int = 1) -> list[str]:
    formats = [f"{v:.{decimals}f}" for v in values]
    return _formats
"""


def test_a_name_one_slip_from_a_bound_name_becomes_that_name():
    assert mended(SLIPPED).endswith("    return formats\n")
    assert mended("def area(width, height):\n    return widht * height\n").endswith("return width * height\n")


def test_a_standard_module_used_without_its_import_gets_the_import():
    source = '"""Words."""\n\n\ndef split(text):\n    return re.split(r"\\s+", text)\n'
    fixed = mended(source)
    assert fixed.startswith('"""Words."""\nimport re\n')
    namespace: dict = {}
    exec(compile(fixed, "words", "exec"), namespace)
    assert namespace["split"]("a  b") == ["a", "b"]


def test_a_name_with_no_single_close_match_is_left_as_it_is():
    unclear = "def f(item1, item2):\n    return item + missing\n"  # item1 and item2 are as close; missing is new
    assert mended(unclear) == unclear
    assert mended("x = 1\n") == "x = 1\n"
    assert mended("def broken(:\n") == "def broken(:\n"  # code that does not parse is not touched


def test_only_candidates_that_change_are_proposed_and_the_same_mend_once():
    first = Score(label="sample 1", files={"pkg/fmt.py": SLIPPED})
    again = Score(label="sample 2", files={"pkg/fmt.py": SLIPPED})
    clean = Score(label="sample 3", files={"pkg/fmt.py": "def f():\n    return 1\n"})
    failed = Score(label="sample 4", files={"pkg/fmt.py": SLIPPED}, error="does not parse")
    variants = mended_candidates([clean, first, again, failed])
    assert [label for label, _ in variants] == ["sample 1, names mended"]
    assert variants[0][1]["pkg/fmt.py"].endswith("return formats\n")


QUEUE = '''"""A queue of jobs."""


class JobQueue:
    def __init__(self) -> None:
        self._jobs: List[Job] = []

    def push(self, job: Job) -> None:
        self._jobs.append(job)
'''
PROJECT = {
    "jobs/__init__.py": "from jobs.model import Job\n\n__all__ = ['Job']\n",
    "jobs/model.py": "from dataclasses import dataclass\n\n\n@dataclass\nclass Job:\n    name: str\n",
    "tests/test_model.py": "class Job:\n    pass\n",  # a test's own helper is not where a name lives
}


def test_a_project_name_used_without_its_import_is_imported_from_the_one_module_that_defines_it():
    failed = Score(label="sample 1", files={"jobs/queue.py": QUEUE}, error="collection failed: tests (NameError)")
    variants = mended_candidates([failed], PROJECT)
    fixed = variants[0][1]["jobs/queue.py"]
    assert "from jobs.model import Job\nfrom typing import List\n" in fixed or (
        "from typing import List\nfrom jobs.model import Job\n" in fixed
    )
    assert "job: Job" in fixed  # not "renamed" to the parameter `job`, one case away
    namespace: dict = {}
    exec(compile(PROJECT["jobs/model.py"], "jobs.model", "exec"), namespace)
    body = fixed.replace("from jobs.model import Job\n", "")
    exec(compile(body, "jobs.queue", "exec"), namespace)  # the class body's annotations now resolve
    queue = namespace["JobQueue"]()
    queue.push(namespace["Job"]("dishes"))
    assert len(queue._jobs) == 1


def test_a_name_two_modules_define_is_not_guessed_and_a_module_never_imports_itself():
    twice = {**PROJECT, "jobs/other.py": "class Job:\n    pass\n"}
    variants = mended_candidates([Score(label="sample 1", files={"jobs/queue.py": QUEUE})], twice)
    assert "import Job" not in variants[0][1]["jobs/queue.py"]  # only List's import was added
    own = "def make() -> Job:\n    return Job('x')\n"
    assert mended(own, {"Job": "jobs.model"}, module="jobs.model") == own
