"""Bounded text fields for model answers.

A small model can fall into a loop inside one JSON string ("The function should be tested with … The function
should be tested with …") until it hits ``max_tokens`` and the whole answer is lost. A ``maxLength`` in the schema
lets a grammar-constrained server (llama.cpp) close the string in time; the validator keeps a longer answer from a
provider without grammars usable instead of rejecting it: repeated sentences are dropped and the rest is cut at a
sentence (or word) boundary within the limit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def without_repeats(text: str) -> str:
    """The text with every sentence that already appeared (case and spacing aside) removed."""
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        key = " ".join(sentence.lower().split())
        if key and key not in seen:
            seen.add(key)
            kept.append(sentence)
    return " ".join(kept)


def cut_to(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut after the last whole sentence, else the last whole word."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.start() for m in _SENTENCE_END.finditer(head + " ")]
    if ends and ends[-1] >= limit // 3:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 3 else head).rstrip()


def _bounded(limit: int):
    def clean(value: object) -> object:
        if not isinstance(value, str):
            return value
        text = without_repeats(value)
        # a string that fills its limit exactly was closed by the grammar mid-word: end it at a sentence or word
        return cut_to(text, limit - 1) if len(text) >= limit else text

    return clean


def code(limit: int) -> Any:
    """``str`` whose schema says ``maxLength`` (so a grammar closes a runaway string) but which is never cut here:
    a cut expression is not code; an over-long one fails later checks with a reason instead."""
    return Annotated[str, Field(json_schema_extra={"maxLength": limit})]


def bounded(limit: int) -> Any:
    """``str`` of at most ``limit`` characters with repeats dropped (see the module docstring); use as a type."""
    return Annotated[str, BeforeValidator(_bounded(limit)), Field(max_length=limit)]
