"""Choosing among candidate edits by running them: the tests they pass, how many candidates agree, the diff.

No single test is an oracle — a scenario can be wrong — so, as in CodeT, a candidate's standing counts the
contract tests it passes *and* how many other candidates pass exactly the same ones (agreement between
independent samples is evidence). A test that every candidate fails is suspect: it is reported with what the
code returned, not trusted to pick a winner. Ties go to fewer broken existing tests, then to the whole-request
answer (what one prompt would have given), then the smaller diff.
What is written never breaks an existing test while a plausible candidate keeps them all; a contract test
that only such breaking code passes is suspect.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.behaviour import agreement

PREFERRED = "whole request"  # the label of apply's one-shot candidates (and their mended copies)


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
    behaviour: list[str] = Field(default_factory=list, description="fingerprints of its answers to the probe calls")

    @property
    def usable(self) -> bool:
        return not self.error

    def perfect(self, suspect: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
        return self.usable and not self.regressions and not (set(self.failed) - suspect)


def plausible(scores: list[Score]) -> list[Score]:
    """Candidates that pass at least half of the contract: the ones whose failures say something."""
    return [s for s in scores if s.usable and s.passed and 2 * len(s.passed) >= len(s.passed) + len(s.failed)]


def suspects(
    scores: list[Score],
    trusted: set[str] = frozenset(),  # type: ignore[assignment]
    rechecked: set[str] = frozenset(),  # type: ignore[assignment]
) -> set[str]:
    """Contract tests that every *plausible* candidate fails — one that passes at least half of the contract —
    when there are at least two *different* ones. Candidates that pass little say nothing about a test, the
    same code twice is one piece of evidence, and a ``trusted`` test (the user's own example or error case) is
    never suspect: the code is wrong, not the request.

    When some plausible candidates keep every existing test, only they count: a contract test that only code
    breaking the user's tests passes is at odds with those tests, and is suspect too (two different ones at least).
    A ``rechecked`` test (the spec already looked at it again) needs no second opinion: every plausible
    candidate failing it, the same code or not, is enough."""
    every = plausible(scores)
    settled = {t for t in rechecked if every and all(t in s.failed for s in every)}
    for candidates in ([s for s in every if not s.regressions], every):
        if len({tuple(sorted(s.files.items())) or s.label for s in candidates}) >= 2:
            common = set(candidates[0].failed)
            for score in candidates[1:]:
                common &= set(score.failed)
            return (common - set(trusted)) | settled
    return settled


def ranked(scores: list[Score], keep_existing: bool = False, preferred: str = PREFERRED) -> list[Score]:
    """Best first: more contract tests passed (weighted: the request's own examples count more), more
    probe-call answers shared with the other candidates (``graph.infra.behaviour``), more agreeing on the same
    passing set, fewer existing tests broken, then a ``preferred`` candidate (the whole-request answer: when
    the evidence cannot tell two apart, the pipeline gives what one prompt would have, not less), smaller diff.

    ``keep_existing`` (the order for what is written): when a plausible candidate breaks no existing test,
    every candidate that breaks one ranks below it. The user's tests were written by a person, the contract by
    a model, and code that breaks one cannot be done. Without it (the order for what a repair starts from) the
    candidate closest to the contract comes first: its repair is shown the test it broke."""
    usable = [s for s in scores if s.usable]
    agreement = Counter(frozenset(s.passed) for s in usable)
    clean = keep_existing and any(not s.regressions for s in plausible(usable))
    return sorted(
        usable,
        key=lambda s: (
            clean and bool(s.regressions),
            -(s.points or len(s.passed)),
            -consensus(s, usable),
            -agreement[frozenset(s.passed)],
            len(s.regressions),
            preferred not in s.label,
            s.diff,
        ),
    )


def backers(score: Score, scores: list[Score]) -> int:
    """How many of ``scores`` (itself included) gave exactly its answers to the probe calls: 1 without probes."""
    return sum(s.behaviour == score.behaviour for s in scores if s.usable) if score.behaviour else 1


def consensus(score: Score, scores: list[Score]) -> int:
    """Probe answers ``score`` shares with the other candidates, summed (MBR-exec): right code agrees with more."""
    return sum(agreement(score.behaviour, s.behaviour) for s in scores if s.usable and s is not score)


def settled(score: Score, scores: list[Score], suspect: set[str]) -> bool:
    """Sampling can stop: ``score`` is perfect and, when it answered the probe calls, another candidate of
    ``scores`` answered them all alike (one right-looking sample alone may only pass a thin contract)."""
    return score.perfect(suspect) and (not score.behaviour or backers(score, scores) >= 2)


def best(scores: list[Score]) -> Score | None:
    """The candidate a repair starts from."""
    order = ranked(scores)
    return order[0] if order else None


def chosen(scores: list[Score], preferred: str = PREFERRED) -> Score | None:
    """The candidate to write; ``scores[0]`` is the code as it is. Code that breaks an existing test is not
    written while a plausible candidate keeps them all (see ``ranked``). Leaving the code unchanged wins only
    when it is strictly better: when no candidate does better on the contract than the unchanged code (the
    contract can be wrong — every candidate failing a broken import), a candidate that breaks nothing it does
    not already break is written — the ``preferred`` one (the whole-request answer, what one prompt would have
    given) first."""
    order = ranked(scores, keep_existing=True, preferred=preferred)
    top = order[0] if order else None
    if top is None or not scores or top is not scores[0]:
        return top
    tied = [
        s
        for s in order
        if s is not top
        and s.files
        and (s.points or len(s.passed)) >= (top.points or len(top.passed))
        and len(s.regressions) <= len(top.regressions)
    ]
    return next((s for s in tied if preferred in s.label), tied[0] if tied else top)
