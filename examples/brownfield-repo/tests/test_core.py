import pytest
from durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("45s", 45), ("2m", 120), ("1h30m", 5400), ("30m1h", 5400)],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "10", "5x", "h"])
def test_parse_duration_rejects_invalid(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "expected"), [(0, "0s"), (45, "45s"), (5400, "1h30m"), (3661, "1h1m1s")])
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


def test_format_duration_rejects_negative():
    with pytest.raises(ValueError):
        format_duration(-1)
