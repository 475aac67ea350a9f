"""Version strings of the form MAJOR.MINOR.PATCH, e.g. ``"1.4.2"``."""

Version = tuple[int, int, int]
_PARTS = ("major", "minor", "patch")


def parse_version(text: str) -> Version:
    """Parse ``"1.4.2"`` into ``(1, 4, 2)``.

    Raises ValueError unless the text is exactly three dot-separated non-negative integers.
    """
    parts = text.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {text!r}")
    major, minor, patch = (int(part) for part in parts)
    return major, minor, patch


def format_version(version: Version) -> str:
    """Format ``(1, 4, 2)`` as ``"1.4.2"``."""
    return ".".join(str(part) for part in version)


def bump_version(version: str, part: str = "patch") -> str:
    """The next version: ``part`` ("major", "minor" or "patch") goes up by one, the parts after it reset to 0.

    Raises ValueError for another ``part`` or a version ``parse_version`` rejects.
    """
    if part not in _PARTS:
        raise ValueError(f"part must be one of {', '.join(_PARTS)}, got {part!r}")
    major, minor, patch = parse_version(version)
    if part == "major":
        return format_version((major + 1, 0, 0))
    if part == "minor":
        return format_version((major, minor + 1, 0))
    return format_version((major, minor, patch + 1))
