import pytest

from confkit.parsing import parse_bool


@pytest.mark.parametrize("text", ["yes", "TRUE", " on ", "1"])
def test_parse_bool_true(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["no", "False", "off", "0"])
def test_parse_bool_false(text):
    assert parse_bool(text) is False


def test_parse_bool_rejects_other_text():
    with pytest.raises(ValueError):
        parse_bool("maybe")
