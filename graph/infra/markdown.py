"""Small markdown pieces the phases' artifacts share."""

from __future__ import annotations


def bullets(items: list[str]) -> str:
    """A markdown bullet list, or ``- (none)`` for an empty one (a section is never left blank)."""
    return "\n".join(f"- {item}" for item in items) or "- (none)"
