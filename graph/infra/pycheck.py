"""Cheap static checks on Python a model just wrote, run before its tests: they catch the commonest
small-model slips (names that do not exist, tests that were never added) in milliseconds.

Undefined names come from pyflakes; the rest are the harness's own questions about a file (which tests it
defines, what it exports, which module paths it imports, where to add an import)."""

from __future__ import annotations

import ast

from pyflakes.checker import Checker
from pyflakes.messages import UndefinedName

from sdd_harness.graph.infra.pyparse import parse_python


def undefined_names(source: str, filename: str = "<module>") -> list[tuple[str, int]]:
    """(name, first line) for every name the code uses that nothing defines — pyflakes' undefined-name check
    (F821). Code that does not parse has none; a name a star import may provide is not guessed at."""
    first_use: dict[str, int] = {}
    for name, line, _ in undefined_uses(source, filename):
        first_use[name] = min(first_use.get(name, line), line)
    return sorted(first_use.items(), key=lambda item: (item[1], item[0]))


def undefined_uses(source: str, filename: str = "<module>") -> list[tuple[str, int, int]]:
    """(name, line, column) of every use of a name nothing defines, in source order (pyflakes' F821)."""
    try:
        tree = parse_python(source, filename)
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return []
    found = [
        (str(m.message_args[0]), m.lineno, m.col)
        for m in Checker(tree, filename=filename).messages
        if isinstance(m, UndefinedName)
    ]
    return sorted(found, key=lambda use: (use[1], use[2]))


def defined_tests(source: str) -> set[str]:
    try:
        tree = parse_python(source)
    except SyntaxError:
        return set()
    return {
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")
    }


def imported_paths(source: str) -> set[str]:
    """Repo-relative candidates for the modules a file imports (`a.b` -> `a/b.py`, `a/b/__init__.py`, and
    for `from a import b` also `a/b.py`); callers keep the ones that exist."""
    try:
        tree = parse_python(source)
    except SyntaxError:
        return set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"}
    paths = set()
    for module in modules:
        base = module.replace(".", "/")
        paths |= {f"{base}.py", f"{base}/__init__.py"}
    return paths


def top_level_names(source: str) -> set[str]:
    """Functions, classes and assigned names a module defines at top level (what `from m import x` can take)."""
    try:
        tree = parse_python(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def defined_names(source: str) -> set[str] | None:
    """Every function and class the source defines, nested ones too; None when it does not parse."""
    try:
        tree = parse_python(source)
    except SyntaxError:
        return None
    return {
        node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def module_of(rel: str) -> str:
    """`src/pkg/mod.py` -> `pkg.mod`; `pkg/__init__.py` -> `pkg`."""
    parts = rel.removesuffix(".py").split("/")
    parts = parts[1:] if parts[0] == "src" and len(parts) > 1 else parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def with_imports(source: str, lines: list[str]) -> str:
    """``source`` with import lines added after its last top-level import (or its docstring)."""
    tree = parse_python(source)
    anchor = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
        if isinstance(node, ast.Import | ast.ImportFrom) or is_doc:
            anchor = node.end_lineno or anchor
    rows = source.split("\n")
    return "\n".join([*rows[:anchor], *lines, *rows[anchor:]])


def without_self_imports(source: str, module: str) -> str:
    """``source`` without top-level imports of ``module`` itself (``from pkg.mod import f`` inside
    ``pkg/mod.py``): such an import fails while the module loads — the name is not defined yet — so the file
    could never be imported (a small model wrote one at the top of the file it changed). Unchanged when the
    code does not parse or has none."""
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError):
        return source
    own = [
        node
        for node in tree.body
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == module)
        or (isinstance(node, ast.Import) and all(alias.name == module for alias in node.names))
    ]
    if not module or not own:
        return source
    rows = source.split("\n")
    for node in reversed(own):
        del rows[node.lineno - 1 : node.end_lineno or node.lineno]
    return "\n".join(rows)
