import pytest

from relkit.changelog import release_heading


def test_release_heading():
    assert release_heading("1.4.2", "2024-05-01") == "## 1.4.2 (2024-05-01)"


def test_release_heading_checks_version():
    with pytest.raises(ValueError):
        release_heading("latest", "2024-05-01")
