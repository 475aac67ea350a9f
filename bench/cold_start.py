"""Metric 2: ``sdd --help`` cold start — a fresh interpreter each time, median of N."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import median


def sdd_command() -> list[str]:
    script = Path(sys.executable).parent / "sdd"
    if script.is_file():
        return [str(script)]
    found = shutil.which("sdd")
    return [found] if found else [sys.executable, "-c", "from sdd_harness.graph.entry.cli import main; main()"]


def measure(n: int = 9) -> dict[str, Any]:
    cmd = [*sdd_command(), "--help"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # warm the OS page cache and .pyc files
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        samples.append(time.perf_counter() - start)
    bare = []
    for _ in range(max(3, n // 3)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, env=env, check=True)
        bare.append(time.perf_counter() - start)
    return {
        "command": " ".join(cmd),
        "n": n,
        "median_s": median(samples),
        "min_s": min(samples),
        "python_startup_s": median(bare),
        "samples": samples,
    }


def import_profile(top: int = 8) -> list[tuple[str, float]]:
    """The slowest cumulative imports of ``sdd_harness.graph.entry.cli`` (``python -X importtime``), in ms."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sdd_harness.graph.entry.cli"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip(), int(parts[1]) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:top]
