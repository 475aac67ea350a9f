"""Changelog headings for releases."""

from relkit.versions import format_version, parse_version


def release_heading(version: str, date: str) -> str:
    """Markdown heading for a release, e.g. ``"## 1.4.2 (2024-05-01)"``; the version is checked first."""
    return f"## {format_version(parse_version(version))} ({date})"
