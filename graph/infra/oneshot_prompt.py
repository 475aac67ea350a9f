"""The one-shot prompt: the change request, a ranked repository map and the relevant files, in one message.

The one-shot baseline (``graph.entry.oneshot``) sends it alone; apply sends the same prompt as one of its
candidates, built from the repository as it stands then: the change's scenario tests (written by spec) are in
their test file. Without them the 1.5B's whole answer got the demo's own example wrong and the demo failed
(2d87a2c, reverted), so the candidate is the one-shot call shown the contract, not a copy of the baseline.
"""

from __future__ import annotations

import re
from pathlib import Path

from sdd_harness.graph.infra.repomap import relevant_files, repo_map, slice_file
from sdd_harness.graph.infra.workspace import Workspace

PROMPT = "one-shot"  # the system prompt's name (prompts/one-shot.md)
FOCUSED = "focused"  # prompts/focused.md: a plain programmer's system prompt for ``focused_prompt``
FILE_BUDGET = 6000
MAP_BUDGET = 3000
MAX_FILES = 5
_PATH = re.compile(r"[\w./-]+\.[A-Za-z0-9]+")


def mentioned_files(root: Path, request: str) -> list[str]:
    """Existing repo files the request names by path (``money/amounts.py``), in order of mention."""
    ws = Workspace(root)
    found = [m.strip("`'\".,;:()") for m in _PATH.findall(request)]
    return list(dict.fromkeys(p for p in found if ws.exists(p)))


def files_for(root: Path, request: str, limit: int = MAX_FILES) -> list[str]:
    """Files named in the request first, then the best keyword matches (``repomap.relevant_files``)."""
    ranked = [*mentioned_files(root, request), *relevant_files(root, request, limit=limit)]
    return list(dict.fromkeys(ranked))[:limit]


def build_prompt(root: Path, request: str, limit: int = MAX_FILES) -> tuple[str, list[str]]:
    """(user prompt, files shown): request, repo map, current content of the relevant files."""
    shown = files_for(root, request, limit)
    blocks = [f"### {rel} (current content)\n```\n{_read(root / rel)}\n```" for rel in shown]
    prompt = (
        f"## Change request\n{request.strip()}\n\n"
        f"## Repository map\n{repo_map(root, MAP_BUDGET, request)}\n\n"
        f"## Relevant files\n{chr(10).join(blocks) if blocks else '(none found)'}\n\n"
        "Reply with the edits that make the whole change."
    )
    return prompt, shown


def focused_prompt(request: str, texts: dict[str, str | None], evidence: str = "") -> str:
    """The request and the files to change, whole (``texts``: as apply read them, None for a new file), and what
    fails now on a fix; nothing else: no map, no phase's paraphrase. With a plain system prompt a 1.5B model wrote
    right code from this where its answers to the fuller prompts were wrong."""
    blocks = [
        f"### {rel}"
        + (
            f"\n```python\n{slice_file(text, FILE_BUDGET).rstrip()}\n```"
            if text is not None
            else " (new file: write all of it)"
        )
        for rel, text in texts.items()
    ]
    return (
        f"Change request (the user's words):\n{request.strip()}\n\n"
        + (f"Failing now:\n{evidence.strip()}\n\n" if evidence.strip() else "")
        + "\n\n".join(blocks)
        + f"\n\nReply with the new or changed definitions of {', '.join(texts)} only"
        + (", each file's block under its `### path` line." if len(texts) > 1 else ".")
    )


def _read(path: Path) -> str:
    return slice_file(path.read_text(encoding="utf-8", errors="replace"), FILE_BUDGET).rstrip("\n")
