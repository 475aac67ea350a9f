import pytest

from relkit.versions import format_version, parse_version


def test_parse_version():
    assert parse_version("1.4.2") == (1, 4, 2)
    assert parse_version("0.10.0") == (0, 10, 0)


@pytest.mark.parametrize("text", ["1.4", "1.4.2.1", "v1.4.2", "1.x.2", ""])
def test_parse_version_rejects_other_text(text):
    with pytest.raises(ValueError):
        parse_version(text)


def test_format_version():
    assert format_version((2, 0, 13)) == "2.0.13"
