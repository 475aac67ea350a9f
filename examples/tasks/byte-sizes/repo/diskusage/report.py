"""Text reports of folder sizes."""

from diskusage.sizes import format_size


def summary_lines(sizes: dict[str, int]) -> list[str]:
    """One ``"name: size"`` line per folder, largest folder first."""
    ordered = sorted(sizes.items(), key=lambda item: item[1], reverse=True)
    return [f"{name}: {format_size(num_bytes)}" for name, num_bytes in ordered]
