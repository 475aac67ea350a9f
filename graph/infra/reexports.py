"""Re-exports the request asks for, made in code: ``from pkg.mod import Name`` and ``__all__`` in the package.

A re-export is one import line and one list entry, and the request says exactly which names and which package.
Small models drop it (measured: the eval's unresolved tasks failed on their re-export test alone, with the new
code right), so every candidate gets the missing ones added before it is run — nothing is guessed: a name is
re-exported only from the module of the package that defines it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from sdd_harness.graph.infra.modulemap import defined_names, module_of_path, own_names
from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.request_items import ReExport


def with_reexports(
    files: dict[str, str],
    allowed: list[str],
    reexports: list[ReExport],
    read: Callable[[str], str | None],
    package_files: Callable[[str], list[str]],
) -> dict[str, str]:
    """``files`` (a candidate: path -> new text) with the requested re-exports added to each package
    ``__init__.py`` among ``allowed``. ``read`` gives a file's current text (None if absent); ``package_files``
    the ``.py`` files under a package folder."""
    out = dict(files)
    for wanted in reexports:
        init = next(
            (rel for rel in allowed if rel.endswith("__init__.py") and module_of_path(rel) == wanted.package), ""
        )
        if not init:
            continue
        text = out.get(init, read(init) or "")
        for name in wanted.names:
            if name not in defined_names(text):
                source = _defining_module(name, init, out, read, package_files)
                if source:
                    text = _with_import(text, source, name)
            if name in defined_names(text) and (wanted.all_list or "__all__" in text):
                text = _with_all_entry(text, name)
        if text != (out.get(init) or read(init) or ""):
            out[init] = text
    return out


def _defining_module(
    name: str,
    init: str,
    files: dict[str, str],
    read: Callable[[str], str | None],
    package_files: Callable[[str], list[str]],
) -> str:
    folder = init.rsplit("/", 1)[0]
    for rel in dict.fromkeys([*(r for r in files if r.startswith(f"{folder}/")), *package_files(folder)]):
        if rel == init or not rel.endswith(".py"):
            continue
        if name in own_names(files.get(rel, read(rel) or "")):
            return module_of_path(rel)
    return ""


def _with_import(text: str, module: str, name: str) -> str:
    """Add ``name`` to an existing ``from module import …`` line, or a new import after the last top-level one."""
    tree = parse_python(text)
    lines = text.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == module and node.lineno == node.end_lineno:
            line = lines[node.lineno - 1].rstrip("\n")
            lines[node.lineno - 1] = f"{line}, {name}\n"
            return "".join(lines)
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    docstring = tree.body[:1] if tree.body and isinstance(tree.body[0], ast.Expr) else []
    after = (imports or docstring or [None])[-1]
    at = after.end_lineno if after is not None and after.end_lineno else 0
    lines.insert(at, ("\n" if at and not imports else "") + f"from {module} import {name}\n")
    return "".join(lines)


def _with_all_entry(text: str, name: str) -> str:
    """``name`` appended to a literal ``__all__`` list (one is made if there is none)."""
    tree = parse_python(text)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            names = [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if name in names:
                return text
            lines = text.splitlines(keepends=True)
            entries = ", ".join(f'"{n}"' for n in [*names, name])
            lines[node.lineno - 1 : node.end_lineno] = [f"__all__ = [{entries}]\n"]
            return "".join(lines)
    if "__all__" in text:  # built some other way: leave it to the model
        return text
    return f'{text.rstrip()}\n\n__all__ = ["{name}"]\n'
