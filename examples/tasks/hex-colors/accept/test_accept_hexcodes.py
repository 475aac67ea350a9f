import pytest

import palette
from palette.hexcodes import parse_hex, to_hex


def test_parse_long_form():
    assert parse_hex("#ff8800") == (255, 136, 0)
    assert parse_hex("#000000") == (0, 0, 0)


def test_hash_is_optional_and_case_is_ignored():
    assert parse_hex("FF8800") == (255, 136, 0)
    assert parse_hex("#1A2b3C") == (26, 43, 60)


def test_short_form_doubles_each_digit():
    assert parse_hex("#f80") == (255, 136, 0)
    assert parse_hex("ABC") == (170, 187, 204)


@pytest.mark.parametrize("code", ["", "#", "#ff88", "#ff88000", "#gg8800", "#f8z"])
def test_parse_rejects_bad_codes(code):
    with pytest.raises(ValueError):
        parse_hex(code)


def test_to_hex_is_lower_case_with_two_digits_per_component():
    assert to_hex((255, 136, 0)) == "#ff8800"
    assert to_hex((1, 2, 171)) == "#0102ab"


@pytest.mark.parametrize("rgb", [(256, 0, 0), (0, -1, 0), (0, 0, 300)])
def test_to_hex_rejects_components_outside_0_255(rgb):
    with pytest.raises(ValueError):
        to_hex(rgb)


def test_round_trip():
    for code in ("#000000", "#ffffff", "#3c7a9e"):
        assert to_hex(parse_hex(code)) == code


def test_reexported_from_package():
    assert palette.parse_hex is parse_hex
    assert palette.to_hex is to_hex
    assert {"blend", "parse_hex", "to_hex"} <= set(palette.__all__)
    assert palette.blend((0, 0, 0), (255, 255, 255), 0) == (0, 0, 0)
