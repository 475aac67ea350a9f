import pytest

from confkit.parsing import parse_bool, parse_key_values


def test_basic_pairs():
    assert parse_key_values("host=db.local; port=5432") == {"host": "db.local", "port": "5432"}


def test_whitespace_is_stripped():
    assert parse_key_values("  user =  admin ;mode= ro ") == {"user": "admin", "mode": "ro"}


@pytest.mark.parametrize("text", ["", "   ", ";", " ; ;"])
def test_empty_input_gives_empty_dict(text):
    assert parse_key_values(text) == {}


def test_trailing_and_double_separators_ignored():
    assert parse_key_values("a=1;;b=2;") == {"a": "1", "b": "2"}


def test_only_first_equals_splits_and_empty_values_allowed():
    assert parse_key_values("query=a=b; token=") == {"query": "a=b", "token": ""}


def test_last_value_wins():
    assert parse_key_values("level=info; level=debug") == {"level": "debug"}


@pytest.mark.parametrize("text", ["host", "a=1; broken", "=value", " = x"])
def test_invalid_segments_rejected(text):
    with pytest.raises(ValueError):
        parse_key_values(text)


def test_parse_bool_unchanged():
    assert parse_bool("Yes") is True
