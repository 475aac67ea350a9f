import pytest
from textkit.counting import top_words, word_count


def test_word_count_ignores_punctuation():
    assert word_count("Hello, world! It's fine.") == 4


def test_top_words_orders_by_frequency():
    assert top_words("a b a c b a", n=2) == [("a", 3), ("b", 2)]


def test_top_words_rejects_negative_n():
    with pytest.raises(ValueError):
        top_words("a b", n=-1)
