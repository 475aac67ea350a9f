from diskusage.report import summary_lines


def test_summary_lines_largest_first():
    sizes = {"docs": 120_000, "photos": 2_500_000_000, "music": 4_000_000}
    assert summary_lines(sizes) == ["photos: 2.5 GB", "music: 4.0 MB", "docs: 120.0 KB"]


def test_summary_lines_empty():
    assert summary_lines({}) == []
