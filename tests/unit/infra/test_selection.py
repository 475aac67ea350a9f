"""Choosing among candidate edits: more contract tests passed, then agreement between candidates, then fewer
broken existing tests, then the whole-request answer, then the smaller diff; a test every plausible candidate
fails is suspect."""

from __future__ import annotations

import pytest

from sdd_harness.graph.infra.selection import Score, backers, best, consensus, ranked, settled, suspects

TESTS = ["t::a", "t::b", "t::c"]


def score(label: str, passed: str = "", regressions: int = 0, diff: int = 10, error: str = "") -> Score:
    """A candidate passing the tests named by letter (``"ab"``: t::a and t::b), failing the others."""
    passing = [f"t::{c}" for c in passed]
    return Score(
        label=label,
        passed=passing,
        failed=[t for t in TESTS if t not in passing],
        regressions=[f"old::{i}" for i in range(regressions)],
        diff=diff,
        error=error,
    )


@pytest.mark.parametrize(
    ("candidates", "winner"),
    [
        ([score("x", "a"), score("y", "ab")], "y"),  # more contract tests passed
        ([score("x", "ab", regressions=3, diff=90), score("y", "a")], "x"),  # ... even with regressions
        (  # same count: the passing set other candidates agree on (CodeT)
            [score("x", "ab"), score("y", "bc"), score("z", "bc")],
            "y",
        ),
        ([score("x", "ab", regressions=1), score("y", "ab")], "y"),  # same tests: fewer broken existing tests
        ([score("x", "ab", diff=40), score("y", "ab", diff=12)], "y"),  # ... then the smaller diff
        ([score("x", "ab", diff=12), score("y", "ab", diff=12)], "x"),  # a full tie keeps the first sampled
        (  # the evidence cannot tell them apart: what one prompt would have given, not the smaller diff
            [score("sample 1", "ab", diff=12), score("sample 2 (whole request)", "ab", diff=40)],
            "sample 2 (whole request)",
        ),
        (  # ... its mended copy too
            [score("sample 1", "ab", diff=5), score("sample 3 (whole request, t=0.8), names mended", "ab")],
            "sample 3 (whole request, t=0.8), names mended",
        ),
        (  # the preference never outweighs a broken existing test ...
            [score("sample 1", "ab"), score("sample 2 (whole request)", "ab", regressions=1)],
            "sample 1",
        ),
        ([score("sample 1", "abc"), score("sample 2 (whole request)", "ab")], "sample 1"),  # ... nor a passed test
        ([score("x", "abc", error="reply had no code block"), score("y", "a")], "y"),  # unusable never wins
    ],
)
def test_best(candidates: list[Score], winner: str) -> None:
    top = best(candidates)
    assert top is not None and top.label == winner


def test_ranked_orders_every_usable_candidate() -> None:
    candidates = [score("p", "a", diff=5), score("q", "abc"), score("r", "ab"), score("s", error="timeout")]
    assert [s.label for s in ranked(candidates)] == ["q", "r", "p"]


def test_no_usable_candidate_means_no_winner() -> None:
    assert best([]) is None
    assert best([score("x", error="call failed"), score("y", error="did not parse")]) is None


def test_a_test_every_plausible_candidate_fails_is_suspect() -> None:
    candidates = [score("x", "ab"), score("y", "ab"), score("w", "abc", error="sandbox failed")]
    assert suspects(candidates) == {"t::c"}


@pytest.mark.parametrize(
    "candidates",
    [
        [score("x", "ab")],  # one candidate is no evidence against a test
        [score("x", "ab"), score("y", "abc", error="no code")],  # nor is one that did not run
        [score("x", ""), score("y", ""), score("z", "")],  # candidates passing nothing say nothing about a test
        [score("x", "ab"), score("y", "")],  # ... and do not count towards the two
        [score("x", "ab"), score("y", "a"), score("z", "b")],  # nor do ones that pass less than half of the tests
    ],
)
def test_no_suspects_without_two_plausible_candidates(candidates: list[Score]) -> None:
    assert suspects(candidates) == set()


def test_perfect_means_every_test_passed_but_the_suspect_ones_and_nothing_broke() -> None:
    almost = score("x", "ab")
    assert not almost.perfect()
    assert almost.perfect({"t::c"})
    assert not score("y", "ab", regressions=1).perfect({"t::c"})
    assert not score("z", "abc", error="timed out").perfect()


def test_code_that_passes_nothing_is_never_perfect_by_suspicion() -> None:
    nothing = [score("x", ""), score("y", "")]
    assert not nothing[0].perfect(suspects(nothing))


def test_the_same_code_twice_is_one_piece_of_evidence() -> None:
    twice = [score("x", "ab"), score("y", "ab")]
    for s in twice:
        s.files = {"m.py": "same code"}
    assert suspects(twice) == set()
    twice[1].files = {"m.py": "other code"}
    assert suspects(twice) == {"t::c"}


def test_a_test_from_the_request_is_never_suspect() -> None:
    candidates = [score("x", "ab"), score("y", "ab")]
    assert suspects(candidates, trusted={"t::c"}) == set()


def test_unchanged_code_is_kept_only_when_it_is_strictly_better() -> None:
    from sdd_harness.graph.infra.selection import chosen

    current = score("current code", diff=0)
    plain, whole = score("sample 1", diff=9), score("sample 2 (whole request)", diff=30)
    plain.files = whole.files = {"m.py": "code"}
    assert chosen([current, plain, whole]) is whole  # a contract nobody passes: the one-shot answer is written
    assert chosen([current, plain]) is plain
    breaking = score("sample 3", regressions=1)
    breaking.files = {"m.py": "code"}
    assert chosen([current, breaking]) is current  # never a candidate that breaks what works today
    better = score("sample 1", "a")
    better.files = {"m.py": "code"}
    assert chosen([current, better, whole]) is better  # a candidate that passes more still wins on its own


def test_what_is_written_keeps_the_users_tests_while_a_plausible_candidate_does() -> None:
    from sdd_harness.graph.infra.selection import chosen

    current = score("current code", diff=0)
    breaking, keeping = score("repair 1", "abc", regressions=1), score("sample 1", "ab")
    breaking.files, keeping.files = {"m.py": "breaks"}, {"m.py": "keeps"}
    assert best([current, breaking, keeping]) is breaking  # a repair starts from the closest: it sees what broke
    assert chosen([current, breaking, keeping]) is keeping
    both = score("sample 2", "ab", regressions=1)
    both.files = {"m.py": "also breaks"}
    assert chosen([current, breaking, both]) is breaking  # every plausible one breaks it: the contract decides


def test_a_contract_test_only_code_breaking_the_users_tests_passes_is_suspect() -> None:
    breaking = score("repair 1", "abc", regressions=1)
    keeping, other = score("sample 1", "ab"), score("sample 3", "ab")
    breaking.files, keeping.files, other.files = {"m.py": "1"}, {"m.py": "2"}, {"m.py": "3"}
    assert suspects([breaking, keeping, other]) == {"t::c"}
    assert suspects([breaking, keeping]) == set()  # one candidate that keeps them is not evidence enough


def test_among_equally_passing_candidates_the_one_others_answer_alike_is_written():
    right, also_right, thin = (score(n, "abc", diff=d) for n, d in [("right", 20), ("also right", 30), ("thin", 5)])
    right.behaviour, also_right.behaviour = ["1", "2", "3"], ["1", "2", "3"]
    thin.behaviour = ["1", "9", "3"]  # the smallest diff, but alone in one answer
    assert [s.label for s in ranked([thin, also_right, right])] == ["right", "also right", "thin"]
    assert backers(right, [thin, right, also_right]) == 2 and backers(thin, [thin, right, also_right]) == 1
    assert consensus(right, [thin, right, also_right]) == 5 and consensus(thin, [thin, right, also_right]) == 4
    assert ranked([score("x", "ab"), thin])[0] is thin  # passing more of the contract still comes first


def test_sampling_stops_at_a_perfect_candidate_only_once_another_answers_alike():
    first, second = score("first", "abc"), score("second", "abc")
    first.behaviour = second.behaviour = ["1", "2"]
    assert not settled(first, [first], set())  # alone: one right-looking sample may pass a thin contract
    assert settled(first, [first, second], set())
    assert settled(score("no probes", "abc"), [], set())  # nothing to compare: as before, perfect is enough
    assert not settled(score("short", "ab"), [], set()) and settled(score("short", "ab"), [], {"t::c"})
