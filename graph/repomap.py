"""A compact map of the repository: files plus Python signatures, never whole bodies.

Phases see this map instead of the code, and then only the few files a step really needs — that is what
keeps prompts small enough for a 2-core local model and cheap for paid ones.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")


def iter_files(root: Path, limit: int = 2000) -> list[str]:
    """Repo-relative text files, sorted, skipping tool and cache folders."""
    found: list[str] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            found.append(rel.as_posix())
            if len(found) >= limit:
                break
    return found


def signatures(source: str) -> list[str]:
    """Top-level and class-level def/class lines of a Python module."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ["<syntax error>"]
    lines: list[str] = []
    for node in tree.body:
        lines.extend(_describe(node, ""))
    return lines


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


def repo_map(root: Path, max_chars: int = 3000) -> str:
    """Files with their signatures, truncated to a character budget."""
    out: list[str] = []
    size = 0
    for rel in iter_files(root):
        entry = [rel]
        if rel.endswith(".py"):
            entry += ["  " + s for s in signatures((root / rel).read_text(encoding="utf-8", errors="replace"))]
        block = "\n".join(entry)
        if size + len(block) > max_chars:
            out.append(f"... ({len(iter_files(root)) - len(out)} more files)")
            break
        out.append(block)
        size += len(block) + 1
    return "\n".join(out)


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
