"""A candidate put together from the others: each top-level definition from the candidate whose version passes
the most contract tests that use it.

Samples of a small model often get different definitions right — one parses well, another formats well — and
whole-candidate selection must give one of them up. Composing starts from the best-ranked candidate and swaps
in another candidate's version of a definition when that candidate passes strictly more of the tests naming
it, with the imports that version needs. The composite is only a proposal: it is run like every candidate and
is written only if it ranks first on its own results.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from sdd_harness.graph.infra.guards import unguarded
from sdd_harness.graph.infra.namefix import mended_candidates
from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.selection import Score, ranked

_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def code_repairs(
    scores: list[Score],
    top: Score,
    uses: Mapping[str, set[str]],
    expectations: Mapping[str, tuple[str, str]],
    project: Mapping[str, str] | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """Candidates made in code from the model's, each to be run like any other: the composite, the best
    candidate without each of its own guards that stopped a call a scenario says returns a value, and the best
    candidates with their undefined names mended (``project``: the package sources a missing import may name)."""
    variants = [
        ("composed", composed(scores, uses)),
        *unguarded(top.files, top.evidence, expectations),
        *mended_candidates([*ranked(scores), *(s for s in scores if not s.usable)], project),
    ]
    return [(label, files) for label, files in variants if files]


def composed(scores: list[Score], uses: Mapping[str, set[str]]) -> dict[str, str]:
    """The best candidate's files with better-tested definitions from the others swapped in ({} if none is).

    ``uses`` maps a contract test to the names it takes from the code (its example's free names)."""
    order = [s for s in ranked(scores) if s.files]
    if len(order) < 2:
        return {}
    base = order[0]
    out: dict[str, str] = {}
    for rel, text in base.files.items():
        if rel.endswith(".py"):
            mixed = _mixed_file(rel, text, base, order[1:], uses)
            if mixed != text:
                out[rel] = mixed
    return {**base.files, **out} if out else {}


def _definitions(text: str) -> tuple[ast.Module, dict[str, ast.stmt]] | None:
    try:
        tree = parse_python(text)
    except (SyntaxError, ValueError):
        return None
    return tree, {node.name: node for node in tree.body if isinstance(node, _DEFINITION)}


def _bound(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds: a definition's name, an assignment's plain targets."""
    if isinstance(stmt, _DEFINITION):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _span(node: ast.stmt) -> tuple[int, int]:
    """0-based [start, end) lines of a definition, decorators included."""
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start - 1, node.end_lineno or node.lineno


def _mixed_file(rel: str, text: str, base: Score, others: list[Score], uses: Mapping[str, set[str]]) -> str:
    parsed = _definitions(text)
    if parsed is None:
        return text
    tree, defined = parsed
    have_names = {name for stmt in tree.body for name in _bound(stmt)}
    lines = text.splitlines(keepends=True)
    parsed_others = [(other, _definitions(other.files.get(rel, ""))) for other in others]  # each parsed once
    swaps: list[tuple[tuple[int, int], str]] = []  # (lines replaced, new source); (n, n) appends at line n
    imports: list[str] = []
    for name in dict.fromkeys([*defined, *(n for names in uses.values() for n in sorted(names))]):
        tests = {test for test, names in uses.items() if name in names}
        count = len(tests & set(base.passed))
        donor: tuple[str, ast.Module, ast.stmt] | None = None
        for other, found in parsed_others:
            if tests and found is not None and name in found[1] and len(tests & set(other.passed)) > count:
                count = len(tests & set(other.passed))
                donor = (other.files[rel], found[0], found[1][name])
        if donor is None:
            continue
        donor_text, donor_tree, donor_node = donor
        donor_lines = donor_text.splitlines(keepends=True)
        needed = {n.id for n in ast.walk(donor_node) if isinstance(n, ast.Name)}
        helpers = [  # module-level names the swapped-in version uses and this file lacks (a constant, a helper)
            "".join(donor_lines[slice(*_span(stmt))]).rstrip() + "\n"
            for stmt in donor_tree.body
            if stmt is not donor_node and _bound(stmt) & needed and not _bound(stmt) & have_names
        ]
        have_names |= {name for stmt in donor_tree.body if stmt is not donor_node for name in _bound(stmt) & needed}
        source = "\n\n".join([*helpers, "".join(donor_lines[slice(*_span(donor_node))])])
        swaps.append((_span(defined[name]) if name in defined else (len(lines), len(lines)), source))
        imports += [
            ast.get_source_segment(donor_text, stmt) or ""
            for stmt in donor_tree.body
            if isinstance(stmt, ast.Import | ast.ImportFrom)
        ]
    at = _after_imports(text)
    for (start, end), source in sorted(swaps, key=lambda swap: swap[0], reverse=True):
        fresh = source if source.endswith("\n") else source + "\n"
        lines[start:end] = [fresh if start < end else f"\n\n{fresh}"]
    have = {line.strip() for line in lines}
    missing = list(dict.fromkeys(i for i in imports if i and i.strip() not in have))
    if missing and not any(start < at for (start, _), _ in swaps):
        lines[at:at] = [f"{i}\n" for i in missing]
    return "".join(lines)


def _after_imports(text: str) -> int:
    """The line after the module's last top-level import (after its docstring if it has none)."""
    tree = parse_python(text)
    last = 0
    for index, stmt in enumerate(tree.body):
        docstring = index == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        if docstring or isinstance(stmt, ast.Import | ast.ImportFrom):
            last = stmt.end_lineno or stmt.lineno
    return last
