import pytest

from relkit.versions import bump_version, parse_version


@pytest.mark.parametrize(("version", "bumped"), [("1.4.2", "1.4.3"), ("0.0.0", "0.0.1"), ("1.4.9", "1.4.10")])
def test_patch_is_the_default(version, bumped):
    assert bump_version(version) == bumped
    assert bump_version(version, "patch") == bumped


def test_minor_resets_patch():
    assert bump_version("1.4.2", "minor") == "1.5.0"
    assert bump_version("0.9.7", part="minor") == "0.10.0"


def test_major_resets_minor_and_patch():
    assert bump_version("1.4.2", "major") == "2.0.0"
    assert bump_version("0.9.7", part="major") == "1.0.0"


@pytest.mark.parametrize("part", ["build", "", "micro"])
def test_unknown_part_rejected(part):
    with pytest.raises(ValueError):
        bump_version("1.4.2", part)


@pytest.mark.parametrize("version", ["1.4", "v1.4.2", "1.4.x"])
def test_invalid_version_rejected(version):
    with pytest.raises(ValueError):
        bump_version(version)


def test_parse_version_unchanged():
    assert parse_version("1.4.2") == (1, 4, 2)
