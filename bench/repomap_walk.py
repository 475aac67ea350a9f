"""Repository walk: the map's file listing on a repository with a big git-ignored virtualenv.

    python bench/repomap_walk.py                      # writes bench/repomap-walk.md
    python bench/repomap_walk.py --repo . --out /tmp/walk.md   # also time a real checkout (its own .venv)

Three listings of the same folder, each the median of ``--reps`` runs after one warm-up (page cache warm):

* ``rglob`` — the listing before this change, kept here verbatim as the baseline: ``Path.rglob("*")`` over
  everything, then drop paths under tool folders. It still visits every file of the virtualenv.
* ``git`` — ``iter_files`` in a git work tree: ``git ls-files --cached --others --exclude-standard``.
* ``walk`` — ``iter_files`` on the same files with ``.git`` moved away: ``os.walk`` pruning tool and hidden
  folders before descending.

The generated repository is ``bench.genrepo`` (200 text files) plus ``.venv/`` with ``--venv-files`` small
files in site-packages-like folders, listed in ``.gitignore`` and committed without it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_dir  # noqa: E402
from bench.genrepo import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent
BASELINE_SKIP = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "openspec",
    ".sdd",
    "build",
    "dist",
    ".tox",
    ".eggs",
}


def rglob_baseline(root: Path, limit: int = 2000) -> list[str]:
    """``iter_files`` as it was before the git listing (commit 104b69c), for comparison only."""
    from sdd_harness.graph.infra.repomap import TEXT_SUFFIXES

    found: list[str] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in BASELINE_SKIP or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            found.append(rel.as_posix())
            if len(found) >= limit:
                break
    return found


def make_repo(dest: Path, venv_files: int) -> Path:
    """The generated repository, committed, with a git-ignored ``.venv`` of ``venv_files`` files."""
    repo = generate(dest, 200)
    per_package = 50
    for index in range(venv_files):
        package = repo / ".venv" / "lib" / "site-packages" / f"pkg{index // per_package:04d}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"mod{index % per_package:02d}.py").write_text("VALUE = 1\n", encoding="utf-8")
    (repo / ".gitignore").write_text(".venv/\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, capture_output=True, env=env)
    return repo


def timed(list_files: Callable[[Path], list[str]], root: Path, reps: int) -> tuple[float, int]:
    """(median seconds, files listed)."""
    count = len(list_files(root))  # warm-up
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        list_files(root)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def measure(repo: Path, reps: int) -> list[tuple[str, float, int]]:
    from sdd_harness.graph.infra.repomap import iter_files

    rows = [("rglob (before)", *timed(rglob_baseline, repo, reps)), ("git ls-files", *timed(iter_files, repo, reps))]
    git_dir, parked = repo / ".git", repo.parent / f"{repo.name}.git-parked"
    if git_dir.is_dir() and (repo / ".venv").is_dir() and not parked.exists():
        git_dir.rename(parked)
        try:
            rows.append(("walk, no git", *timed(iter_files, repo, reps)))
        finally:
            parked.rename(git_dir)
    return rows


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder)) if folder.is_dir() else 0


def table(title: str, repo_note: str, rows: list[tuple[str, float, int]]) -> str:
    base = rows[0][1]
    lines = [f"### {title}", "", repo_note, "", "| listing | median | files listed | vs before |", "|---|---|---|---|"]
    for index, (name, sec, count) in enumerate(rows):
        speedup = "—" if index == 0 else f"{base / sec:.0f}× faster"
        lines.append(f"| {name} | {sec * 1000:.1f} ms | {count} | {speedup} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv-files", type=int, default=17_700)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--repo", type=Path, help="also time this existing checkout (read only)")
    parser.add_argument("--out", type=Path, default=ROOT / "repomap-walk.md")
    args = parser.parse_args()

    scratch = scratch_dir("sdd-bench-walk-")
    try:
        repo = make_repo(scratch / "repo", args.venv_files)
        note = f"`bench.genrepo` 200 files + git-ignored `.venv/` with {count_files(repo / '.venv')} files."
        sections = [table("Generated repository", note, measure(repo, args.reps))]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.repo:
        real = args.repo.resolve()
        note = f"`{real.name}` checkout, `.venv/` with {count_files(real / '.venv')} files (not moved: git only)."
        rows = [("rglob (before)", *timed(rglob_baseline, real, args.reps))]
        from sdd_harness.graph.infra.repomap import iter_files

        rows.append(("git ls-files", *timed(iter_files, real, args.reps)))
        sections.append(table("This checkout", note, rows))
    header = (
        f"# Repository walk (`iter_files`)\n\n`python bench/repomap_walk.py {' '.join(sys.argv[1:])}`".replace(
            " `", "`"
        )
        + f" — median of {args.reps} "
        f"runs after a warm-up, page cache warm; {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores.\n"
    )
    text = "\n\n".join([header, *sections]) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
