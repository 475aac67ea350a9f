"""A compact map of the repository: files plus Python signatures, never whole bodies.

Phases see this map instead of the code, and then only the few files a step really needs — that is what
keeps prompts small enough for a 2-core local model and cheap for paid ones.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

from sdd_harness.graph.infra.pyparse import parse_python

SKIP_DIRS = {
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
TEXT_SUFFIXES = {
    ".py",
    ".toml",
    ".cfg",
    ".ini",
    ".md",
    ".txt",
    ".json",
    ".yaml",
    ".yml",
    ".js",
    ".ts",
    ".go",
    ".rs",
}
GIT_TIMEOUT_S = 30.0
_GIT_LOCATION_VARS = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"}
_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")


def iter_files(root: Path, limit: int = 2000, text_only: bool = True) -> list[str]:
    """Repo-relative text files (any file with ``text_only=False``), sorted by path, at most ``limit``.

    In a git work tree git says which files belong (tracked plus untracked-but-not-ignored), so a .gitignore'd
    virtualenv or build folder costs nothing; elsewhere a walk that skips tool, cache and hidden folders. Either
    way the tool folders in ``SKIP_DIRS`` are left out and no symlink leads outside ``root``.
    """
    listed = _git_files(root)
    names = listed if listed is not None else _walked_files(root)
    real_root = root.resolve()
    found: list[str] = []
    for rel in sorted({n for n in names if _wanted(n, text_only)}, key=lambda rel: rel.split("/")):
        path = root / rel
        if path.is_file() and (not path.is_symlink() or path.resolve().is_relative_to(real_root)):
            found.append(rel)
            if len(found) >= limit:
                break
    return found


def _wanted(rel: str, text_only: bool = True) -> bool:
    *folders, name = rel.split("/")
    return (not text_only or Path(name).suffix in TEXT_SUFFIXES) and not any(_tool_folder(f) for f in folders)


def _tool_folder(name: str) -> bool:
    return name in SKIP_DIRS or name.endswith(".egg-info")


def _git_files(root: Path) -> list[str] | None:
    """Files under ``root`` that git does not ignore, relative to ``root``; None when ``root`` is not inside a
    git work tree (or git is missing) — and when git lists nothing, e.g. a folder another repository ignores."""
    env = {name: value for name, value in os.environ.items() if name not in _GIT_LOCATION_VARS}  # root decides
    command = ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=GIT_TIMEOUT_S, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    names = [name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name]
    return names or None


def _walked_files(root: Path) -> list[str]:
    """Every file under ``root`` outside tool and hidden folders; symlinked folders are not entered."""
    names: list[str] = []
    for folder, subfolders, files in os.walk(root):  # followlinks=False
        subfolders[:] = [d for d in subfolders if not (d.startswith(".") or _tool_folder(d))]
        base = Path(folder).relative_to(root)
        names.extend((base / name).as_posix() for name in files)
    return names


def signatures(source: str) -> list[str]:
    """Top-level and class-level def/class lines of a Python module."""
    return list(_signatures(source))


@lru_cache(maxsize=1024)
def _signatures(source: str) -> tuple[str, ...]:
    """Parsing is the costly part of every map, ranking and signature hint, and the same unchanged files are
    outlined by init, explore, design and apply alike: parse each distinct text once per process."""
    try:
        tree = parse_python(source)
    except SyntaxError:
        return ("<syntax error>",)
    return tuple(line for node in tree.body for line in _describe(node, ""))


def _describe(node: ast.AST, indent: str) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        return [f"{indent}{prefix} {node.name}({ast.unparse(node.args)}){returns}"]
    if isinstance(node, ast.ClassDef):
        bases = f"({', '.join(ast.unparse(b) for b in node.bases)})" if node.bases else ""
        inner = [line for child in node.body for line in _describe(child, indent + "    ")]
        return [f"{indent}class {node.name}{bases}", *inner]
    if isinstance(node, ast.Assign) and indent == "":
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        return [f"{n} = ..." for n in names if n.isupper() or n == "__all__"]
    return []


def repo_map(root: Path, max_chars: int = 3000, query: str = "", ranked: list[str] | None = None) -> str:
    """Files with their signatures within a character budget.

    A repository that fits is mapped whole, in path order. One that does not gets the files most relevant to
    ``query`` (``ranked``, when the caller has ranked them already) with signatures first, then the other files
    by folder — never the first N files alphabetically, which on a big repository are rarely the ones a change
    touches.
    """
    files = iter_files(root)
    blocks = {rel: _entry(root, rel) for rel in files}
    if sum(len(b) + 1 for b in blocks.values()) <= max_chars:
        return "\n".join(blocks.values())
    out: list[str] = []
    shown: set[str] = set()
    size = 0
    if ranked is None:
        ranked = relevant_files(root, query, limit=6) if query else []
    for rel in ranked:
        if size + len(blocks[rel]) > max_chars * 0.6:
            break
        out.append(blocks[rel])
        shown.add(rel)
        size += len(blocks[rel]) + 1
    out.append("Other files (read_file, list_dir or grep for details):")
    out.extend(_folders(_by_folder([rel for rel in files if rel not in shown]), max_chars - size))
    return "\n".join(out)


def _folders(grouped: dict[str, list[str]], budget: int) -> list[str]:
    """Names per folder when they all fit; else the layout: every folder with its file count.

    A few folders' names cut off alphabetically would tell a model nothing about where things live.
    """
    named = [
        f"{folder}/: " + ", ".join(names[:8]) + (f" (+{len(names) - 8} more)" if len(names) > 8 else "")
        for folder, names in grouped.items()
    ]
    if sum(len(line) + 1 for line in named) <= budget:
        return named
    lines, line = [], ""
    for folder, names in grouped.items():
        item = f"./: {', '.join(names)}" if folder == "." and len(names) <= 4 else f"{folder}/ ({len(names)})"
        if len(line) + len(item) + 2 > 100:
            lines.append(line)
            line = ""
        line = f"{line}, {item}" if line else item
    lines.append(line)
    kept, size = [], 0
    for line in lines:
        if size + len(line) + 1 > budget:
            kept.append(f"... ({sum(len(n) for n in grouped.values())} files in {len(grouped)} folders)")
            break
        kept.append(line)
        size += len(line) + 1
    return kept


def _entry(root: Path, rel: str) -> str:
    if not rel.endswith(".py"):
        return rel
    sigs = signatures((root / rel).read_text(encoding="utf-8", errors="replace"))
    return "\n".join([rel, *("  " + s for s in sigs)])


def _by_folder(files: list[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for rel in files:
        folder, _, name = rel.rpartition("/")
        grouped.setdefault(folder or ".", []).append(name)
    return grouped


def keywords(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def relevant_files(root: Path, query: str, limit: int = 4) -> list[str]:
    """Rank source files by word overlap with the request (paths and signatures weigh most)."""
    words = keywords(query)
    scored: list[tuple[float, str]] = []
    for rel in iter_files(root):
        if not rel.endswith(".py"):
            continue
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        head = keywords(rel.replace("/", " ").replace(".py", "")) | keywords(" ".join(signatures(text)))
        score = 3 * len(words & head) + 0.5 * len(words & keywords(text))
        if score:
            scored.append((score, rel))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [rel for _, rel in scored[:limit]]


def slice_file(text: str, max_chars: int = 2500) -> str:
    """A file's head up to a budget, cut on a line boundary."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit("\n", 1)[0]
    return f"{cut}\n# ... ({len(text) - len(cut)} more characters)"


_MENTIONED_PATH = re.compile(r"[\w./-]+\.(?:py|md|toml|json|yaml|yml|js|ts|txt|cfg|ini)\b")


def mentioned_paths(root: Path, request: str) -> list[str]:
    """Paths the request names that exist, or could be created in an existing folder."""
    found = []
    for raw in _MENTIONED_PATH.findall(request):
        rel = raw.strip("./`")
        target = (root / rel).resolve()
        if target.is_relative_to(root) and (target.is_file() or target.parent.is_dir()) and rel not in found:
            found.append(rel)
    return found
