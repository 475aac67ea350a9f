"""A candidate's undefined names, mended in code: after a syntax error, the commonest slip of a small model.

pyflakes finds each use of a name that nothing defines (``_units[-1]`` where the function bound ``units``;
``re.sub`` without ``import re``). Two mends are safe to try: a standard-library module used as ``module.attr``
gets its import, and a name that is one small slip (case, a leading underscore, one letter) away from exactly one
name the file binds becomes that name. The mended candidate is only a proposal, run like any other: a wrong mend
loses on its own test results.
"""

from __future__ import annotations

import ast
import difflib
import sys
from collections.abc import Mapping

from sdd_harness.graph.infra.pycheck import undefined_uses, with_imports
from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.selection import Score

MAX_VARIANTS = 2
CLOSE = 0.8  # difflib ratio: `_units`/`units` 0.91, `totl`/`total` 0.89, `size`/`sizes` 0.89, `max`/`min` 0.33


def mended_candidates(scores: list[Score]) -> list[tuple[str, dict[str, str]]]:
    """(label, files) for each candidate whose undefined names could be mended, best-ranked first, at most
    ``MAX_VARIANTS``; the same mended code twice is tried once."""
    out: list[tuple[str, dict[str, str]]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for score in scores:
        if not score.files or score.error or len(out) >= MAX_VARIANTS:
            continue
        files = mended_files(score.files)
        key = tuple(sorted(files.items()))
        if files != score.files and key not in seen:
            seen.add(key)
            out.append((f"{score.label}, names mended", files))
    return out


def mended_files(files: Mapping[str, str]) -> dict[str, str]:
    return {rel: mended(text) if rel.endswith(".py") else text for rel, text in files.items()}


def mended(source: str) -> str:
    """``source`` with each mendable undefined name mended (unchanged when none is)."""
    uses = undefined_uses(source)
    if not uses:
        return source
    bound = _bound_names(parse_python(source))
    renames: dict[str, str] = {}
    imports: list[str] = []
    for name in dict.fromkeys(name for name, _, _ in uses):
        target = _close_name(name, bound)
        if target:
            renames[name] = target
        elif name in sys.stdlib_module_names and _used_as_module(source, name):
            imports.append(f"import {name}")
    rows = source.split("\n")
    for name, line, col in reversed(uses):  # right to left, so earlier columns stay where pyflakes saw them
        if name in renames and rows[line - 1][col : col + len(name)] == name:
            rows[line - 1] = rows[line - 1][:col] + renames[name] + rows[line - 1][col + len(name) :]
    text = "\n".join(rows)
    return with_imports(text, imports) if imports else text


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the file binds anywhere: definitions, parameters, assignments, loop targets, imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _close_name(name: str, bound: set[str]) -> str:
    """The one bound name ``name`` is a slip of, or ''."""
    folded = [b for b in bound if b.strip("_").lower() == name.strip("_").lower()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(name, sorted(bound), n=2, cutoff=CLOSE)
    return close[0] if len(close) == 1 else ""  # two as close: no telling which was meant


def _used_as_module(source: str, name: str) -> bool:
    tree = parse_python(source)
    return any(
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name
        for node in ast.walk(tree)
    )
