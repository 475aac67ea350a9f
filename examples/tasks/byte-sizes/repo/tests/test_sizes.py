from diskusage.sizes import format_size


def test_format_size_decimal_units():
    assert format_size(1500) == "1.5 KB"
    assert format_size(2_000_000) == "2.0 MB"
    assert format_size(2_500_000_000) == "2.5 GB"


def test_format_size_stops_at_terabytes():
    assert format_size(3 * 10**12) == "3.0 TB"
    assert format_size(4 * 10**15) == "4000.0 TB"
