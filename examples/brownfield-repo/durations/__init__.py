"""durations: parse and format human-friendly durations."""

from durations.core import format_duration, parse_duration

__all__ = ["format_duration", "parse_duration"]
