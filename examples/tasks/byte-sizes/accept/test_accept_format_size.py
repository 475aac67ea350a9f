import pytest

from diskusage.sizes import format_size


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [(1000, "1.0 KB"), (1500, "1.5 KB"), (2_000_000, "2.0 MB"), (3 * 10**12, "3.0 TB")],
)
def test_decimal_units_by_default(num_bytes, text):
    assert format_size(num_bytes) == text


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2 * 1024**4, "2.0 TiB"),
    ],
)
def test_binary_units(num_bytes, text):
    assert format_size(num_bytes, binary=True) == text


def test_binary_false_is_the_decimal_default():
    assert format_size(1536, binary=False) == "1.5 KB"


def test_small_sizes_are_whole_bytes():
    assert format_size(999) == "999 B"
    assert format_size(0) == "0 B"
    assert format_size(1000, binary=True) == "1000 B"
    assert format_size(1023, binary=True) == "1023 B"


@pytest.mark.parametrize("binary", [False, True])
def test_negative_size_rejected(binary):
    with pytest.raises(ValueError):
        format_size(-5, binary=binary)
