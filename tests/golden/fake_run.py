"""The scripted fake team's whole run on the demo repo, as files: what a structure change must not alter.

``python -m tests.golden.fake_run`` rewrites ``fake_run.json`` — do that only for a change that is meant to alter
what a run writes, and say so in the commit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from tests.fakes.scripted import SLUGIFY_REQUEST

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("fake_run.json")
VOLATILE = {"run.json", "run.md"}  # the run report: wall times, costs per call
_DATE_DIR = re.compile(r"/archive/\d{4}-\d{2}-\d{2}-")
_SECONDS = re.compile(r"\| \d+\.\d+s \|")
_TOOK = re.compile(r" in \d+\.\ds\)")


def normalised(rel: str, text: str) -> tuple[str, str]:
    """Paths and text with the date and wall times taken out (they differ from run to run)."""
    return _DATE_DIR.sub("/archive/DATE-", rel), _TOOK.sub(" in Ns)", _SECONDS.sub("| Ns |", text))


def run_files(workdir: Path) -> dict[str, str]:
    """Run the demo change with the scripted team in ``workdir``; every text file of the repo afterwards."""
    from sdd_harness.graph.entry.api import run_change
    from tests.fakes.scripted import team

    repo = workdir / "demo-repo"
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    shutil.copytree(ROOT / "examples" / "demo-repo", repo, ignore=ignore)
    request = SLUGIFY_REQUEST
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = run_change(request, repo, "opencode-go", models=team(), auto_approve=True)
    assert result.status == "done", result.reason
    files: dict[str, str] = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        skipped = rel.startswith((".sdd/", ".pytest_cache/")) or "__pycache__" in rel or path.name in VOLATILE
        if not path.is_file() or skipped:
            continue
        key, text = normalised(rel, path.read_text(encoding="utf-8"))
        files[key] = text
    return files


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        SNAPSHOT.write_text(json.dumps(run_files(Path(tmp)), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}", file=sys.stderr)
