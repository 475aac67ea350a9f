"""Install and run the pinned OpenSpec CLI (npm @fission-ai/openspec) for reference tests.

The CLI lives in a cache directory outside the repo (default `~/.cache/sdd-harness/openspec-<ver>`,
override with SDD_OPENSPEC_CACHE) and is installed on first use with the system `npm`.
Telemetry is off for every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

OPENSPEC_VERSION = "1.13.2"
OPENSPEC_PACKAGE = f"@fission-ai/openspec@{OPENSPEC_VERSION}"


def openspec_env() -> dict[str, str]:
    """Environment for every CLI call: no telemetry, no prompts, no colour."""
    env = dict(os.environ)
    env.update({"OPENSPEC_TELEMETRY": "0", "DO_NOT_TRACK": "1", "CI": "1", "NO_COLOR": "1", "FORCE_COLOR": "0"})
    return env


def cache_dir() -> Path:
    """Where the pinned CLI is installed (outside the repo, shared across test runs)."""
    default = Path.home() / ".cache" / "sdd-harness" / f"openspec-{OPENSPEC_VERSION}"
    return Path(os.environ.get("SDD_OPENSPEC_CACHE", default))


def _installed(prefix: Path) -> Path | None:
    binary = prefix / "node_modules" / ".bin" / "openspec"
    return binary if binary.exists() else None


def openspec_bin(install: bool = True) -> Path | None:
    """Path of the pinned `openspec` executable, installing it with npm if needed; None if impossible."""
    prefix = cache_dir()
    found = _installed(prefix)
    if found or not install:
        return found
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [
        npm,
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--prefix",
        str(prefix),
        OPENSPEC_PACKAGE,
    ]
    proc = subprocess.run(cmd, cwd=prefix, env=openspec_env(), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return None
    return _installed(prefix)


def run_openspec(args: Sequence[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the pinned CLI in `cwd` (a target repo root); raises RuntimeError if it is unavailable."""
    binary = openspec_bin()
    if binary is None:
        raise RuntimeError(f"OpenSpec CLI {OPENSPEC_VERSION} is not available (npm/node missing or install failed)")
    return subprocess.run(
        [str(binary), *args], cwd=cwd, env=openspec_env(), capture_output=True, text=True, timeout=timeout
    )
