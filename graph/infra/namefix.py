"""A candidate's undefined names, mended in code: after a syntax error, the commonest slip of a small model.

pyflakes finds each use of a name that nothing defines (``_units[-1]`` where the function bound ``units``;
``re.sub`` without ``import re``; ``def push(self, item: Item)`` where ``Item`` lives in a sibling module).
Four mends are safe to try, in this order: a name exactly one module of the project defines gets its import
from there, and so does a typing or standard-library name spelt exactly (``List``, ``dataclass``, ``deque``); a
name that is one small slip (case, a leading underscore, one letter) away from exactly one name the file binds
becomes that name; a standard-library module used as ``module.attr`` gets its import. The mended candidate is
only a proposal, run like any other: a wrong mend loses on its own test results.
"""

from __future__ import annotations

import ast
import difflib
import sys
import typing
from collections.abc import Mapping

from sdd_harness.graph.infra.modulemap import is_test_path, own_names
from sdd_harness.graph.infra.pycheck import module_of, undefined_uses, with_imports
from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.selection import Score

MAX_VARIANTS = 2
CLOSE = 0.8  # difflib ratio: `_units`/`units` 0.91, `totl`/`total` 0.89, `size`/`sizes` 0.89, `max`/`min` 0.33
STDLIB_NAMES: dict[str, str] = {
    **{name: "typing" for name in typing.__all__ if name[:1].isupper()},  # List, Optional, Callable, ...
    **dict.fromkeys(("dataclass", "field", "asdict"), "dataclasses"),
    **dict.fromkeys(("deque", "defaultdict", "Counter", "OrderedDict", "namedtuple"), "collections"),
    **dict.fromkeys(("Enum", "IntEnum"), "enum"),
    **dict.fromkeys(("Decimal",), "decimal"),
    **dict.fromkeys(("Fraction",), "fractions"),
    **dict.fromkeys(("Path",), "pathlib"),
}


def mended_candidates(
    scores: list[Score], project: Mapping[str, str] | None = None
) -> list[tuple[str, dict[str, str]]]:
    """(label, files) for each candidate whose undefined names could be mended, best-ranked first, at most
    ``MAX_VARIANTS``; the same mended code twice is tried once. ``project``: the package sources as they are
    (path -> text), where a name the candidate uses but does not import may be defined."""
    out: list[tuple[str, dict[str, str]]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for score in scores:
        if not score.files or len(out) >= MAX_VARIANTS:  # one whose import failed is the one to mend
            continue
        files = mended_files(score.files, project)
        key = tuple(sorted(files.items()))
        if files != score.files and key not in seen:
            seen.add(key)
            out.append((f"{score.label}, names mended", files))
    return out


def mended_files(files: Mapping[str, str], project: Mapping[str, str] | None = None) -> dict[str, str]:
    known = defining_modules({**(project or {}), **files})
    return {rel: mended(text, known, module_of(rel)) if rel.endswith(".py") else text for rel, text in files.items()}


def defining_modules(sources: Mapping[str, str]) -> dict[str, str]:
    """name -> the one non-test module that defines it at top level (a name two modules define is left out)."""
    found: dict[str, set[str]] = {}
    for rel, text in sources.items():
        if rel.endswith(".py") and not is_test_path(rel):
            for name in own_names(text):
                found.setdefault(name, set()).add(module_of(rel))
    return {name: modules.pop() for name, modules in found.items() if len(modules) == 1}


def mended(source: str, known: Mapping[str, str] | None = None, module: str = "") -> str:
    """``source`` with each mendable undefined name mended (unchanged when none is). ``known``: name -> the
    project module defining it; ``module``: the dotted name of ``source`` itself (it never imports itself)."""
    uses = undefined_uses(source)
    if not uses:
        return source
    bound = _bound_names(parse_python(source))
    renames: dict[str, str] = {}
    imports: list[str] = []
    for name in dict.fromkeys(name for name, _, _ in uses):
        home = (known or {}).get(name) or STDLIB_NAMES.get(name)
        if home and home != module:
            imports.append(f"from {home} import {name}")
        elif target := _close_name(name, bound):
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
