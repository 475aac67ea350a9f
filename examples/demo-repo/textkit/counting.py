"""Word counting helpers."""

import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Return the lowercase words of ``text``, ignoring punctuation."""
    return _WORD.findall(text.lower())


def word_count(text: str) -> int:
    """Return the number of words in ``text``."""
    return len(words(text))


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    """Return the ``n`` most frequent words as ``(word, count)`` pairs.

    Ties keep the order in which words first appear.
    Raises ValueError if ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return Counter(words(text)).most_common(n)
