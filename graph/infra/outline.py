"""A file shown for an edit: the definitions the change names in full, every other body folded to ``...``.

A small model shown a whole file tends to copy it back, often without the new code, and a copied file spends the
reply's token budget before the new definition is reached (seen in real apply runs: replies that re-typed the
existing file and stopped). Folding the bodies it should not touch keeps the names, signatures, imports and
constants it may use, and a folded definition the model copies back merges as "keep the old body" (see ``pyedit``).
"""

from __future__ import annotations

import ast
import re

from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.request_items import extract

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FOLDED = "..."


def named_identifiers(*texts: str) -> set[str]:
    """Every identifier-like word in the texts: what decides which definitions stay unfolded."""
    return {word for text in texts for word in _IDENTIFIER.findall(text)}


def outline(source: str, keep: set[str]) -> str:
    """``source`` with each top-level function, and each method of a class, folded unless its name is in ``keep``.

    A class named in ``keep`` is shown whole. Everything that is not a definition (imports, constants, the module
    docstring) stays as it is. A file that does not parse is returned unchanged.
    """
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError):
        return source
    lines = source.splitlines(keepends=True)
    folds: list[tuple[int, int, str]] = []  # (first line of the body, last line, replacement), 0-based
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in keep:
            folds.append(_fold(node, lines))
        elif isinstance(node, ast.ClassDef) and node.name not in keep:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name not in keep:
                    folds.append(_fold(item, lines))
    for start, end, text in sorted(folds, reverse=True):
        lines[start : end + 1] = [text]
    return "".join(lines)


def _fold(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> tuple[int, int, str]:
    """The body of ``node`` replaced by its docstring's first line (if any) and ``...``."""
    first = node.body[0]
    start = first.lineno - 1
    end = (node.end_lineno or node.body[-1].end_lineno or first.lineno) - 1
    indent = re.match(r"\s*", lines[start]).group(0) if start < len(lines) else "    "
    doc = ast.get_docstring(node)
    summary = f"# {doc.strip().splitlines()[0]}" if doc else "# (existing body hidden)"
    if start == node.lineno - 1:  # a one-line definition (`def f(): return 1`): nothing worth folding
        return start, start, lines[start]
    header_end = start - 1  # the signature's last line, where the body is folded onto: `def f(x) -> int: ...`
    while header_end > node.lineno - 1 and (not lines[header_end].strip() or lines[header_end].strip().startswith("#")):
        header_end -= 1
    if "#" in lines[header_end]:  # a comment ends the signature line: fold onto a line of its own
        return start, end, f"{indent}{FOLDED}  {summary}\n"
    return header_end, end, f"{lines[header_end].rstrip()} {FOLDED}  {summary}\n"


def new_definitions(request: str, tasks: str, texts: dict[str, str | None]) -> list[str]:
    """The callables the request names, the tasks mention and none of the files defines yet. Said outright, so a
    model shown folded bodies writes the new code instead of filling in the old (seen in a real run). Re-export
    files (``__init__.py``) only import names, so a group of those gets no such line."""
    if all(rel.endswith("__init__.py") for rel in texts):
        return []
    code = "\n".join(text or "" for text in texts.values())
    return [
        name
        for name in dict.fromkeys(extract(request).names())
        if re.search(rf"\b{re.escape(name)}\b", tasks)
        and not re.search(rf"\b(?:def|class)\s+{re.escape(name)}\b", code)
    ]
