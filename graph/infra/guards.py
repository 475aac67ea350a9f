"""A candidate's own guard that stops a call the scenarios say returns a value, taken out.

Small models add checks the request never asked for (`if total % n: raise ValueError(...)`); a scenario that
expects a value then fails with that exception, and a repair prompt rarely talks the model out of it. Each guard
whose exception a failing value scenario reports is taken out, one per variant, and the variant is run like any
candidate: it wins only by passing more tests, so a guard that a raising scenario needs stays.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from sdd_harness.graph.infra.pyparse import parse_python

MAX_VARIANTS = 3
_FAILURE = re.compile(r"^- (\w+): (.*)$")


def unguarded(
    files: Mapping[str, str], evidence: str, expectations: Mapping[str, tuple[str, str]]
) -> list[tuple[str, dict[str, str]]]:
    """(label, files) variants of a candidate, each without one ``if …: raise E(…)`` guard that raised in a test
    whose scenario expects a returned value (``expectations``: test name -> (call, "return `x`" / "raise `E`"))."""
    found = [_FAILURE.match(line.strip()) for line in evidence.splitlines()]
    failures = [m.group(2) for m in found if m and (expectations.get(m.group(1)) or ("", ""))[1].startswith("return")]
    if not failures:
        return []
    out: list[tuple[str, dict[str, str]]] = []
    for rel, text in files.items():
        try:
            tree = parse_python(text) if rel.endswith(".py") else None
        except SyntaxError:
            continue
        for node in ast.walk(tree) if tree else []:
            if not (isinstance(node, ast.If) and not node.orelse and [type(s) for s in node.body] == [ast.Raise]):
                continue
            name, words = _raised(node.body[0])  # type: ignore[arg-type]
            if not name or not any(m.startswith(name) and words in m for m in failures):
                continue
            lines = text.splitlines(keepends=True)
            variant = "".join(lines[: node.lineno - 1] + lines[node.end_lineno or node.lineno :])
            try:
                parse_python(variant)  # a function whose only statement was the guard is left with no body
            except SyntaxError:
                continue
            out.append((f"without the guard on line {node.lineno} of {rel}", {**files, rel: variant}))
    return out[:MAX_VARIANTS]


def _raised(statement: ast.Raise) -> tuple[str, str]:
    """The exception's name and the start of its message's fixed text ('' when it has none)."""
    exc = statement.exc
    target = exc.func if isinstance(exc, ast.Call) else exc
    name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
    words = ""
    if isinstance(exc, ast.Call) and exc.args:
        first = exc.args[0]
        parts = first.values if isinstance(first, ast.JoinedStr) else [first]
        fixed = next((p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)), "")
        words = fixed.strip()[:30]
    return name, words
