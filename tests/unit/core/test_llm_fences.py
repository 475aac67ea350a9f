"""An open code fence in a plain-text reply means the reply was cut at the output limit, and only then."""

from __future__ import annotations

from sdd_harness.graph.core.llm import closed_fences


def test_a_complete_reply_ending_inside_its_block_gets_the_closing_fence() -> None:
    assert closed_fences("### a.py\n```python\nX = 1\n") == "### a.py\n```python\nX = 1\n```\n"


def test_a_reply_whose_fences_are_closed_is_left_as_it_is() -> None:
    reply = "### a.py\n```python\nX = 1\n```\nDone."
    assert closed_fences(reply) == reply
