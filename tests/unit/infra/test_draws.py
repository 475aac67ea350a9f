"""The order of apply's candidates: two greedy answers, a sample of the one-shot call, one of the full prompt,
the focused prompt's greedy answer, then samples in turn; an echoing prompt is not sampled again."""

from __future__ import annotations

from sdd_harness.graph.infra.draws import next_draw
from sdd_harness.graph.infra.selection import Score


def schedule(
    k: int, contract: bool = True, echoes: frozenset[str] = frozenset()
) -> list[tuple[str, float | None, int]]:
    """The first ``k`` draws, each run as a candidate whose diff is 0 when its label is in ``echoes``."""
    drawn: list[Score] = [Score(label="current code")]
    out = []
    for i in range(k):
        draw = next_draw(i, drawn, 0.7, contract)
        drawn.append(Score(label=draw.label, diff=0 if draw.label in echoes else 12))
        out.append((draw.label, draw.temperature, draw.seed))
    return out


def test_with_a_contract_the_full_prompt_answers_first_then_the_one_shot_call_and_its_sample():
    assert schedule(7) == [
        ("sample 1", None, 0),
        ("sample 2 (whole request)", None, 1),
        ("sample 3 (whole request, t=0.7)", 0.7, 3),
        ("sample 4 (t=0.7)", 0.7, 2),
        ("sample 5 (focused)", None, 4),
        ("sample 6 (focused, t=0.7)", 0.7, 5),
        ("sample 7 (t=0.7)", 0.7, 6),
    ]


def test_without_a_contract_the_one_shot_call_answers_first():
    assert [label for label, _, _ in schedule(2, contract=False)] == ["sample 1 (whole request)", "sample 2"]


def test_a_prompt_whose_greedy_answer_changed_nothing_is_not_sampled_and_the_focused_prompt_comes_early():
    labels = [label for label, _, _ in schedule(7, echoes=frozenset({"sample 2 (whole request)"}))]
    assert labels == [
        "sample 1",
        "sample 2 (whole request)",
        "sample 3 (focused)",  # in place of the echoing prompt's sample
        "sample 4 (t=0.7)",
        "sample 5 (focused, t=0.7)",  # its greedy answer is drawn already: a sample of it instead
        "sample 6 (focused, t=0.7)",
        "sample 7 (t=0.7)",  # then the two live prompts in turn, never the echoing one
    ]


def test_every_draw_has_its_own_seed():
    seeds = [seed for _, _, seed in schedule(9)]
    assert len(set(seeds)) == len(seeds)
