"""A scripted 'team' of fake models that makes one real change to the demo repo.

Each phase's fake answers with plausible structured output; apply returns real code (optionally buggy
first), so verify runs real pytest on real edits. Tests tweak the script to force loops and failures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from tests.fakes.chat import Cut, FakeChatModel

# The change these scripted models answer (add slugify); `make demo` runs its own request on real models.
SLUGIFY_REQUEST = (Path(__file__).parent / "slugify-request.md").read_text(encoding="utf-8")

SLUGIFY_OK = '''

def slugify(text: str, max_length: int = 50) -> str:
    """Lowercase ASCII slug of ``text``, at most ``max_length`` characters."""
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:max_length].rstrip("-")
'''

SLUGIFY_BUGGY = SLUGIFY_OK.replace('.rstrip("-")', "")
# the same bug written another way: two different wrong candidates are two pieces of evidence against a test
SLUGIFY_BUGGY_ALT = SLUGIFY_BUGGY.replace('"""Lowercase ASCII slug', '"""ASCII slug, lowercase,')

SLUGIFY_TESTS = """

def test_slugify_basic():
    assert slugify("Hello, World!") == "hello-world"


def test_slugify_strips_accents():
    assert slugify("Café au lait") == "cafe-au-lait"


def test_slugify_trims_without_trailing_dash():
    assert slugify("hello world", max_length=6) == "hello"


def test_slugify_rejects_bad_max_length():
    with pytest.raises(ValueError):
        slugify("x", max_length=0)
"""


def schema_name(kwargs: dict[str, Any]) -> str:
    fmt = kwargs.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name", "") if isinstance(fmt, dict) else ""


def role_of(model: str) -> str:
    """The role an HTTP fake's request is for: configs served by fakes name every role's model `m-<role>`
    (and a role's fallback `m-backup-<role>`)."""
    return model.removeprefix("m-").removeprefix("backup-")


@dataclass
class DemoScript:
    """Answers for every phase of the slugify change; tweak fields to force behaviours."""

    impl_versions: list[str] = field(default_factory=lambda: [SLUGIFY_OK])
    judge_target: str = "sdd-apply"
    review_verdicts: list[str] = field(default_factory=lambda: ["approve"])
    requirement_text: str = "The system SHALL turn text into a lowercase ASCII slug joined by '-'."
    seen: list[str] = field(default_factory=list)

    def responder(self, role: str) -> Callable[[list[BaseMessage], dict[str, Any]], str]:
        """The answering function of one role's fake: each fake knows which phase it serves."""
        return lambda messages, kwargs: self(role, messages, kwargs)

    def reply(self, phase: str, user: str) -> str:
        """The text a role's model answers to ``user``: JSON for structured phases, code blocks for apply."""
        answer = getattr(self, phase.replace("-", "_"), self.unknown)(user)
        return answer if isinstance(answer, str) else json.dumps(answer)

    def __call__(self, phase: str, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        self.seen.append(phase)
        user = str(messages[-1].content)
        if "tools" in kwargs or schema_name(kwargs) == "ActionStep":
            return json.dumps(self.look_around(phase, "tools" in kwargs, messages))
        answer = getattr(self, phase.replace("-", "_"), self.unknown)(user)
        return answer if isinstance(answer, str) else json.dumps(answer)

    def look_around(self, phase: str, native: bool, messages: list[BaseMessage]) -> dict:
        """Explore reads a sibling module once (the target is already in its prompt), then finishes."""
        looked = any("Result of read_file" in str(m.content) or m.type == "tool" for m in messages)
        if native:
            name, args = ("finish", {}) if looked else ("read_file", {"path": "textkit/counting.py"})
            return {"tool_call": {"name": name, "args": args}}
        action = {"action": "finish"} if looked else {"action": "read_file", "path": "textkit/counting.py"}
        return {"action": action}

    def unknown(self, user: str) -> dict:
        return {}

    def sdd_init(self, user: str) -> dict:
        return {"language": "python", "test_command": "python -m pytest -q", "conventions": ["type hints"]}

    def sdd_explore(self, user: str) -> dict:
        return {
            "current_state": "textkit/strings.py has whitespace helpers.",
            "affected_files": ["textkit/strings.py", "tests/test_strings.py"],
            "recommendation": "Add slugify next to truncate.",
            "approaches": [],
            "risks": [],
        }

    def sdd_propose(self, user: str) -> dict:
        return {
            "why": "Users need URL-safe slugs built from arbitrary titles, including accented text.",
            "what_changes": ["Add slugify(text, max_length=50)", "Raise ValueError for max_length < 1"],
            "approach": "Normalise with unicodedata, keep [a-z0-9] words, join with '-'.",
            "affected_files": ["textkit/strings.py"],
            "success_criteria": ["slugify tests pass"],
        }

    def sdd_spec(self, user: str) -> dict:
        module = "textkit.strings"
        scenarios = [
            {"name": "Basic slug", "call": "slugify('Hello, World!')", "expect": "'hello-world'", "module": module},
            {
                "name": "Accents are stripped",
                "call": "slugify('Café au lait')",
                "expect": "'cafe-au-lait'",
                "module": module,
            },
            {
                "name": "Cut without a trailing dash",
                "call": "slugify('hello world', max_length=6)",
                "expect": "'hello'",
                "module": module,
            },
            {
                "name": "Rejects bad length",
                "call": "slugify('x', max_length=0)",
                "raises": "ValueError",
                "module": module,
            },
        ]
        return {
            "capability": "text-slugs",
            "purpose": "Turn arbitrary text into URL-safe slugs for links and file names.",
            "requirements": [{"name": "Slugify Text", "text": self.requirement_text, "scenarios": scenarios}],
        }

    def sdd_design(self, user: str) -> dict:
        return {
            "approach": "A pure function in textkit/strings.py.",
            "file_changes": [
                {"path": "textkit/strings.py", "action": "modify", "description": "add slugify"},
                {"path": "tests/test_strings.py", "action": "modify", "description": "tests"},
            ],
            "interfaces": ["def slugify(text: str, max_length: int = 50) -> str"],
            "testing_strategy": "Unit tests in tests/test_strings.py.",
        }

    def sdd_tasks(self, user: str) -> dict:
        return {
            "tasks": [
                {
                    "task": "Add slugify",
                    "file": "textkit/strings.py",
                    "requirements": ["R1"],
                    "scenarios": ["S1", "S2", "S3", "S4"],
                    "input": "text: str, max_length: int = 50",
                    "output": "str",
                },
                {"task": "Test slugify", "file": "tests/test_strings.py", "requirements": ["R1"]},
            ]
        }

    def sdd_apply(self, user: str) -> str:
        """The next implementation, written as a code block for textkit/strings.py (merged by name)."""
        impl = self.impl_versions.pop(0) if len(self.impl_versions) > 1 else self.impl_versions[0]
        block = f"### textkit/strings.py\n```python\nimport re\nimport unicodedata\n{impl}"
        return Cut(block) if isinstance(impl, Cut) else f"{block}```\n"  # a Cut stops inside its block

    def sdd_verify(self, user: str) -> dict:
        tests = re.findall(r"^- (\S+::\S+)$", user, re.MULTILINE)
        scenarios = re.findall(r"^- (.+)$", user.split("Tests:")[0], re.MULTILINE)
        pick = {
            "Basic slug": "test_slugify_basic",
            "Rejects bad length": "test_slugify_rejects_bad_max_length",
        }
        links = []
        for s in scenarios:
            match = next((t for t in tests if t.endswith(pick.get(s, "?"))), None)
            links.append({"scenario": s, "test": match})
        return {"links": links}

    def sdd_archive(self, user: str) -> dict:
        return {"summary": "Added slugify with tests.", "follow_ups": []}

    def sdd_review(self, user: str) -> dict:
        verdict = self.review_verdicts.pop(0) if len(self.review_verdicts) > 1 else self.review_verdicts[0]
        findings = (
            []
            if verdict == "approve"
            else [{"file": "textkit/strings.py", "problem": "slugify lacks a docstring example", "fix": "add one"}]
        )
        return {"verdict": verdict, "findings": findings}

    def sdd_security(self, user: str) -> dict:
        return {"risks": ["none: pure string function"]}

    def orchestrator(self, user: str) -> dict:
        return {"target": self.judge_target, "reason": "assertion failures in slugify"}


READING_TIME_OK = """

def reading_time(text: str, words_per_minute: int = 200) -> int:
    if words_per_minute < 1:
        raise ValueError(f"words_per_minute must be >= 1, got {words_per_minute}")
    return math.ceil(word_count(text) / words_per_minute)
"""


@dataclass
class DemoRequestScript(DemoScript):
    """Answers for the change `make demo` runs (examples/demo-request.md: add reading_time and re-export it)."""

    def sdd_spec(self, user: str) -> dict:
        scenarios = [
            {"name": "Rounds up", "call": "reading_time('a b c', words_per_minute=2)", "expect": "2"},
            {"name": "Empty text", "call": "reading_time('')", "expect": "0"},
            {"name": "Rejects zero", "call": "reading_time('a', words_per_minute=0)", "raises": "ValueError"},
        ]
        scenarios = [{**scenario, "module": "textkit.counting"} for scenario in scenarios]
        text = "The system SHALL give the whole minutes needed to read a text."
        return {
            "capability": "reading-time",
            "purpose": "Estimate reading time.",
            "requirements": [{"name": "Reading Time", "text": text, "scenarios": scenarios}],
        }

    def sdd_design(self, user: str) -> dict:
        return {
            "approach": "A pure function next to word_count.",
            "file_changes": [
                {"path": "textkit/counting.py", "action": "modify", "description": "add reading_time"},
                {"path": "textkit/__init__.py", "action": "modify", "description": "re-export it"},
            ],
            "interfaces": ["def reading_time(text: str, words_per_minute: int = 200) -> int"],
            "testing_strategy": "Scenario tests in tests/test_counting.py.",
        }

    def sdd_tasks(self, user: str) -> dict:
        task = {"task": "Add reading_time", "file": "textkit/counting.py", "requirements": ["R1"]}
        return {"tasks": [{**task, "scenarios": ["S1", "S2", "S3"], "output": "int"}]}

    def sdd_apply(self, user: str) -> str:
        return f"### textkit/counting.py\n```python\nimport math\n{READING_TIME_OK}```\n"

    def sdd_archive(self, user: str) -> dict:
        return {"summary": "Added reading_time, re-exported from textkit.", "follow_ups": []}


def team(
    script: DemoScript | None = None, names: dict[str, str] | None = None, extra_roles: tuple[str, ...] = ()
) -> dict[str, FakeChatModel]:
    """One fake model per role, each with its own name so routing can be asserted."""
    script = script or DemoScript()
    names = names or {}
    roles = [*BUILTIN_PHASES, *extra_roles, ORCHESTRATOR]
    return {
        role: FakeChatModel(model=names.get(role, f"fake-{role}"), responder=script.responder(role)) for role in roles
    }
