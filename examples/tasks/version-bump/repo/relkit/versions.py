"""Version strings of the form MAJOR.MINOR.PATCH, e.g. ``"1.4.2"``."""

Version = tuple[int, int, int]


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
