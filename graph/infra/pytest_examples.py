"""Scenarios read from pytest test functions: the format small code models write most reliably.

Asked for a scenario as ``setup`` / ``call`` / ``expect`` fields, a 1.5B model writes the steps of a stateful
case (make an object, push, push, read) as separate scenarios whose ``call`` is an assignment, or puts the
state it expects after a mutation into ``expect``. Asked for pytest tests of the same request, it writes
straight-line tests that create the object, call its methods and assert the result. This module turns such
tests back into examples by reading their syntax tree: every ``assert <call> == <value>`` (or
``assert <call>`` / ``assert not <call>`` / ``assert <call> is None``) and every ``with pytest.raises(E):``
block is one example whose setup is everything the test ran before it. Tests with loops, branches or
parameters are skipped: their cases are not one call each.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.modulemap import is_test_path
from sdd_harness.graph.infra.pyparse import parse_python

CONTRACT_MARK = "# >>> sdd contract:"  # contract.BEGIN's fixed part
_KEPT_FILES, _KEPT_CHARS = 300, 100_000  # a big suite is read in part: the spec phase stays quick
_SETUP_LIMIT = 8  # statements before the call; longer tests are not kept (Example.setup's bound)
_STRAIGHT = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Assert, ast.With, ast.Pass)


class ReadExample(BaseModel):
    """One example read from a test function: the test's words for a name, and the example."""

    name: str
    function: str
    example: Example

    def called(self) -> list[str]:
        """The functions, methods and attributes the example's call uses, e.g. ``['values']`` for
        ``buffer.values()``: what says which requirement it belongs to."""
        free = set(self.example.names())
        return [
            node.attr if isinstance(node, ast.Attribute) else node.id
            for node in ast.walk(parse_python(self.example.call, mode="eval"))
            if isinstance(node, ast.Attribute) or (isinstance(node, ast.Name) and node.id in free)
        ]


def examples_from_tests(text: str) -> list[ReadExample]:
    """Every checkable call in the straight-line test functions of ``text`` (code blocks or bare code)."""
    blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", text, re.DOTALL) or [text]
    out: list[ReadExample] = []
    for block in blocks:
        tree = _parsed(block)
        if tree is None:
            continue
        imported = _imports(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                out += _from_function(node, imported)
    return out


def kept_examples(root: Path, files: Iterable[str]) -> list[Example]:
    """The checks of the user's own test files (not a change's generated contract): what the code does today."""
    out: list[Example] = []
    for rel in [f for f in files if f.endswith(".py") and is_test_path(f)][:_KEPT_FILES]:
        try:
            text = (root / rel).read_text(encoding="utf-8", errors="replace")[:_KEPT_CHARS]
        except OSError:
            continue
        if CONTRACT_MARK not in text:
            out += [read.example for read in examples_from_tests(text)]
    return out


def _parsed(block: str) -> ast.Module | None:
    """The block's syntax tree; a reply cut at the output limit loses its unfinished last test, not all."""
    lines = block.splitlines()
    while lines:
        try:
            return parse_python("\n".join(lines))
        except (SyntaxError, ValueError):
            starts = [i for i, line in enumerate(lines) if line.startswith(("def ", "async def ", "@"))]
            if not starts or starts[-1] == 0:
                return None
            lines = lines[: starts[-1]]
    return None


def _imports(tree: ast.Module) -> dict[str, str]:
    """Name -> the module a ``from m import name`` line takes it from."""
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
        for alias in node.names
    }


def _from_function(func: ast.FunctionDef | ast.AsyncFunctionDef, imported: dict[str, str]) -> list[ReadExample]:
    if func.args.args or func.args.posonlyargs or func.args.kwonlyargs or func.args.vararg or func.args.kwarg:
        return []  # fixtures or parameters: the values are not in the test
    if not all(isinstance(stmt, _STRAIGHT) for stmt in func.body):
        return []
    title = func.name.removeprefix("test").strip("_").replace("_", " ") or func.name
    found: list[tuple[list[str], str, str | None, str | None]] = []
    setup: list[str] = []
    for stmt in func.body:
        if isinstance(stmt, ast.Assert):
            checked = _checked(stmt.test)
            if checked is None:
                return []
            call, expect = checked
            found.append((list(setup), call, expect, None))
            if _may_change_state(stmt.test):
                setup.append(call)  # the call ran: later checks see its effects (a pop, a push)
        elif isinstance(stmt, ast.With):
            raised = _raises(stmt)
            if raised is None:
                return []
            error, body = raised
            found.append((setup + body[:-1], body[-1], None, error))
        elif not isinstance(stmt, ast.Pass):
            setup.append(ast.unparse(stmt))
    out = []
    for index, (before, call, expect, raises) in enumerate(found, 1):
        name = title if len(found) == 1 else f"{title} ({index})"
        example = _example(before, call, expect, raises, imported)
        if example is not None:
            out.append(ReadExample(name=name, function=func.name, example=example))
    return out


def _may_change_state(test: ast.expr) -> bool:
    """Whether a checked call can change what a later check sees: not when it only passes literal values to a
    function (`f('a') == 1` then `f('b') == 2` are two independent checks, not one after the other)."""
    called = test.left if isinstance(test, ast.Compare) else test
    if not isinstance(called, ast.Call) or not isinstance(called.func, ast.Name):
        return True
    return any(isinstance(n, ast.Name) for arg in [*called.args, *called.keywords] for n in ast.walk(arg))


def _checked(test: ast.expr) -> tuple[str, str] | None:
    """(call, expected value) of an assert's condition, or None when it is not one call and one value."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq):
            if isinstance(right, ast.Call) and right.args and ast.unparse(right.func).endswith("approx"):
                right = right.args[0]  # the rendered test compares a float value approximately again
            return ast.unparse(test.left), ast.unparse(right)
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value in (None, True, False):
            return ast.unparse(test.left), repr(right.value)
        return None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return ast.unparse(test.operand), "False"
    if isinstance(test, ast.Call | ast.Attribute | ast.Name):
        return ast.unparse(test), "True"
    return None


def _raises(stmt: ast.With) -> tuple[str, list[str]] | None:
    """(exception name, the block's statements, the last as an expression) of ``with pytest.raises(E):``."""
    if len(stmt.items) != 1:
        return None
    context = stmt.items[0].context_expr
    if not (isinstance(context, ast.Call) and context.args and ast.unparse(context.func).endswith("raises")):
        return None
    error = ast.unparse(context.args[0]).split(".")[-1]
    body = [s for s in stmt.body if not isinstance(s, ast.Pass)]
    if not body or not all(isinstance(s, ast.Assign | ast.Expr) for s in body):
        return None
    last = body[-1]
    call = last.value if isinstance(last, ast.Assign | ast.Expr) else None  # `x = Thing(0)` raises in its call
    if call is None:
        return None
    return error, [ast.unparse(s) for s in body[:-1]] + [ast.unparse(call)]


def _example(
    setup: list[str], call: str, expect: str | None, raises: str | None, imported: dict[str, str]
) -> Example | None:
    if len(setup) > _SETUP_LIMIT:
        return None
    try:
        example = Example(setup=setup, call=call, expect=expect, raises=raises)
    except ValidationError:
        return None
    modules = [imported[n] for n in example.names() if n in imported]
    return example.model_copy(update={"module": modules[0] if modules else None})
