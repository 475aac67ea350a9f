"""Cheap static checks on Python a model just wrote, run before its tests: they catch the commonest
small-model slips (names that do not exist, tests that were never added) in milliseconds."""

from __future__ import annotations

import ast
import builtins
import symtable

BUILTINS = set(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__builtins__"}


def module_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return {"*"}
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        for target in ast.walk(node) if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) else []:
            if isinstance(target, ast.Name):
                names.add(target.id)
        if isinstance(node, ast.For | ast.With | ast.Try | ast.If):
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def undefined_names(source: str, filename: str = "<module>") -> list[tuple[str, int]]:
    """(name, line) for names a function uses that nothing defines (like pyflakes' F821, simplified)."""
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, filename, "exec")
    except SyntaxError:
        return []
    defined = module_names(tree)
    if "*" in defined:
        return []
    missing: dict[str, int] = {}
    for scope in _function_scopes(table):
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if symbol.is_referenced() and symbol.is_global() and name not in defined and name not in BUILTINS:
                line = _first_use(_scope_node(tree, scope) or tree, name)
                missing[name] = min(missing.get(name, line), line)
    return sorted(missing.items(), key=lambda item: item[1])


def _scope_node(tree: ast.Module, scope: symtable.SymbolTable) -> ast.AST | None:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    for node in ast.walk(tree):
        if (
            isinstance(node, kinds)
            and getattr(node, "name", "lambda") == scope.get_name()
            and (node.lineno == scope.get_lineno() or getattr(node, "decorator_list", None))
        ):
            return node
    return None


def _function_scopes(table: symtable.SymbolTable) -> list[symtable.SymbolTable]:
    found = []
    for child in table.get_children():
        if child.get_type() in ("function", "class"):
            found.append(child)
        found += _function_scopes(child)
    return found


def _first_use(tree: ast.AST, name: str) -> int:
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
    return min(lines) if lines else 0


def defined_tests(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
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
        tree = ast.parse(source)
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
        tree = ast.parse(source)
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
        tree = ast.parse(source)
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
    tree = ast.parse(source)
    anchor = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
        if isinstance(node, ast.Import | ast.ImportFrom) or is_doc:
            anchor = node.end_lineno or anchor
    rows = source.split("\n")
    return "\n".join([*rows[:anchor], *lines, *rows[anchor:]])
