"""The order in which apply draws its candidates: which prompt, greedy or sampled, with which seed.

Three prompts write a candidate: ``full`` (request, scenario tests, tasks, outlines), ``whole request`` (the
one-shot call, shown the contract) and ``focused`` (the request and the files whole, no output rules). The
schedule: the greedy answers to the full prompt and the one-shot call (the one-shot call first when there is
no contract to tell them apart: a wrong paraphrase cannot pull the pipeline below one prompt), a sample of the
one-shot call, a sample of the full prompt, the focused prompt's greedy answer, then samples of the three in
turn. In the eval the one-shot call's samples won and the full prompt's never did, so a config drawing three
stops before the full prompt's. A prompt whose greedy answer changed nothing (an echo of the files) is not
sampled again: the focused prompt's greedy answer comes early instead. Each draw keeps its seed whatever
the order around it, so a candidate is drawn the same way when the schedule changes."""

from __future__ import annotations

import re
from typing import NamedTuple

from sdd_harness.graph.infra.selection import PREFERRED, Score

WHOLE_REQUEST = PREFERRED  # the kind's name is in its labels, which selection prefers on a tie
KINDS = ("focused", "full", WHOLE_REQUEST)


class Draw(NamedTuple):
    """One candidate to ask for: its report label, the prompt kind, ``None`` for greedy, the seed."""

    label: str
    kind: str
    temperature: float | None
    seed: int


def opening(contract: bool, heat: float) -> list[tuple[str, float | None, int]]:
    """The first five draws as (kind, temperature or ``None`` for greedy, seed)."""
    first = ["full", WHOLE_REQUEST] if contract else [WHOLE_REQUEST, "full"]
    return [
        (first[0], None, 0),
        (first[1], None, 1),
        (WHOLE_REQUEST, heat, 3),
        ("full", heat, 2),
        ("focused", None, 4),
    ]


def greedy_of(kind: str, drawn: list[Score]) -> Score | None:
    """That prompt's greedy candidate among ``drawn``, once drawn."""
    tag = "" if kind == "full" else f" ({kind})"
    return next((c for c in drawn if re.fullmatch(rf"sample \d+{re.escape(tag)}", c.label)), None)


def next_draw(i: int, drawn: list[Score], heat: float, contract: bool) -> Draw:
    """Draw ``i`` (0-based) given the candidates ``drawn`` so far (their labels and diffs decide echoes)."""
    plan = opening(contract, heat)
    alive = [k for k in KINDS if not ((g := greedy_of(k, drawn)) and not g.diff)]
    pool = alive or ["full"]
    kind, temperature, seed = plan[i] if i < len(plan) else (pool[(i - len(plan)) % len(pool)], heat, i)
    if kind == "focused" and temperature is None and greedy_of("focused", drawn):  # drawn early already
        kind, temperature = pool[0], heat
    if temperature is not None and kind not in alive:
        kind, temperature = ("focused", None) if not greedy_of("focused", drawn) else (pool[0], heat)
    tags = [t for t in (kind if kind != "full" else "", f"t={heat}" if temperature is not None else "") if t]
    return Draw(f"sample {i + 1}" + (f" ({', '.join(tags)})" if tags else ""), kind, temperature, seed)
