"""textkit: small, dependency-free text utilities."""

from textkit.counting import top_words, word_count
from textkit.strings import normalize_whitespace, truncate

__all__ = ["normalize_whitespace", "top_words", "truncate", "word_count"]
