"""Choosing among candidate edits by running them: the tests they pass, how many candidates agree, the diff.

No single test is an oracle — a scenario can be wrong — so, as in CodeT, a candidate's standing counts the
contract tests it passes *and* how many other candidates pass exactly the same ones (agreement between
independent samples is evidence). A test that every candidate fails is suspect: it is reported with what the
code returned, not trusted to pick a winner. Ties go to fewer broken existing tests, then the smaller diff; a
candidate that breaks an existing test never beats a plausible one that breaks none.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field


class Score(BaseModel):
    """One candidate, as run in its own copy of the repository."""

    label: str = Field(description="e.g. 'sample 2 (t=0.8)', 'repair 1', 'escalated'")
    model: str = ""
    files: dict[str, str] = Field(default_factory=dict, exclude=True)
    passed: list[str] = Field(default_factory=list, description="contract tests it passes")
    points: int = Field(0, description="passed tests, weighted (the request's own examples count more)")
    failed: list[str] = Field(default_factory=list, description="contract tests it fails")
    regressions: list[str] = Field(default_factory=list, description="existing tests it breaks")
    diff: int = 0
    error: str = ""
    evidence: str = Field("", exclude=True, description="the failing output, for a repair prompt")

    @property
    def usable(self) -> bool:
        return not self.error

    def perfect(self, suspect: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
        return self.usable and not self.regressions and not (set(self.failed) - suspect)


def plausible(scores: list[Score]) -> list[Score]:
    """Candidates that pass at least half of the contract: the ones whose failures say something."""
    return [s for s in scores if s.usable and s.passed and 2 * len(s.passed) >= len(s.passed) + len(s.failed)]


def suspects(scores: list[Score], trusted: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """Contract tests that every *plausible* candidate fails — one that passes at least half of the contract —
    when there are at least two *different* ones. Candidates that pass little say nothing about a test, the
    same code twice is one piece of evidence, and a ``trusted`` test (the user's own example or error case) is
    never suspect: the code is wrong, not the request."""
    candidates = plausible(scores)
    distinct = {tuple(sorted(s.files.items())) or s.label: s for s in candidates}
    if len(distinct) < 2:
        return set()
    common = set(candidates[0].failed)
    for score in candidates[1:]:
        common &= set(score.failed)
    return common - set(trusted)


def ranked(scores: list[Score]) -> list[Score]:
    """Best first: more contract tests passed (weighted: the request's own examples count more), more
    candidates agreeing on the same passing set, fewer existing tests broken, smaller diff.

    One rule comes before all that: when a plausible candidate breaks no existing test, every candidate that
    breaks one ranks below it. The user's tests were written by a person, the contract by a model; a candidate
    that breaks one cannot be done, so picking it for a few more contract tests only sends the repair the wrong
    way. When every plausible candidate breaks something (the request changes what an old test checks), the
    count of broken tests is only a tie-breaker, as before."""
    usable = [s for s in scores if s.usable]
    agreement = Counter(frozenset(s.passed) for s in usable)
    clean = any(not s.regressions for s in plausible(usable))
    return sorted(
        usable,
        key=lambda s: (
            clean and bool(s.regressions),
            -(s.points or len(s.passed)),
            -agreement[frozenset(s.passed)],
            len(s.regressions),
            s.diff,
        ),
    )


def best(scores: list[Score]) -> Score | None:
    order = ranked(scores)
    return order[0] if order else None


def chosen(scores: list[Score], preferred: str = "whole request") -> Score | None:
    """The candidate to write; ``scores[0]`` is the code as it is. Leaving the code unchanged wins only when it
    is strictly better: when no candidate does better on the contract than the unchanged code (the contract can
    be wrong — every candidate failing a broken import), a candidate that breaks nothing it does not already
    break is written — the ``preferred`` one (the whole-request answer, what one prompt would have given) first."""
    top = best(scores)
    if top is None or not scores or top is not scores[0]:
        return top
    tied = [
        s
        for s in ranked(scores[1:])
        if s.files
        and (s.points or len(s.passed)) >= (top.points or len(top.passed))
        and len(s.regressions) <= len(top.regressions)
    ]
    return next((s for s in tied if preferred in s.label), tied[0] if tied else top)
