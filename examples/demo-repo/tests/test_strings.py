import pytest
from textkit.strings import normalize_whitespace, truncate


def test_normalize_whitespace_collapses_runs():
    assert normalize_whitespace("  hello \n\t world  ") == "hello world"


def test_truncate_keeps_short_text():
    assert truncate("short", 10) == "short"


def test_truncate_adds_suffix():
    assert truncate("hello world", 8) == "hello..."


def test_truncate_rejects_tiny_width():
    with pytest.raises(ValueError):
        truncate("hello", 2)
