"""What a call is declared to return, and whether a scenario's expected value can be such a thing.

A small model writes the value it expects in the shape it imagines, not the one the code declares: a list of
strings where the function returns ``list[Token]``, a list where it returns a tuple. ``==`` between the two is
False for every implementation, so the test fails for right code too. The return annotations of the
repository and the signatures the request writes (``ranking() -> list[tuple[str, float]]``) say which shape is
right; where they cannot tell (a union of unknowns, ``Any``, a call in the expected value), nothing is judged.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.pyparse import parse_python, parsed_module


def declared_returns(source: str) -> tuple[dict[str, str], set[str]]:
    """(function or method name -> its return annotation, the classes that never equal a plain value: no base
    class, no ``__eq__``). A name declared twice with different annotations is left out."""
    tree = parsed_module(source)
    if tree is None:
        return {}, set()
    found: dict[str, set[str]] = {}
    plain: set[str] = set()
    for node in tree.body:
        functions = [node] if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
        if isinstance(node, ast.ClassDef):
            functions = [f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
            if not node.bases and not node.keywords and "__eq__" not in {f.name for f in functions}:
                plain.add(node.name)
        for function in functions:
            if function.returns is not None:
                found.setdefault(function.name, set()).add(ast.unparse(function.returns))
    return {name: kinds.pop() for name, kinds in found.items() if len(kinds) == 1}, plain


def request_returns(signatures: Iterable[str]) -> dict[str, str]:
    """Name -> return annotation, from the request's signatures (``to_roman(number: int) -> str``)."""
    out: dict[str, str] = {}
    for signature in signatures:
        head, arrow, returns = signature.partition("->")
        name = head.split("(")[0].strip().split(".")[-1]
        annotation = returns.strip().strip("`").rstrip(".,;:")
        if arrow and name.isidentifier() and annotation:
            try:
                parse_python(annotation, mode="eval")
            except SyntaxError:
                continue
            out[name] = annotation
    return out


def wrong_shape(example: Example, returns: Mapping[str, str], plain: set[str]) -> str:
    """Why ``example``'s expected value can never equal what its call returns ('' when it can, or when that
    cannot be told: only a value written out in full is judged)."""
    if example.expect is None:
        return ""
    try:
        call = parse_python(example.call, mode="eval").body
        value = ast.literal_eval(example.expect)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ""
    func = call.func if isinstance(call, ast.Call) else None
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    annotation = returns.get(name)
    if not annotation:
        return ""
    try:
        declared = parse_python(annotation, mode="eval").body
    except SyntaxError:
        return ""
    if _fits(value, declared, plain) is False:
        return f"`{name}` returns `{annotation}`; `{example.expect}` can never equal one: write the value as that type"
    return ""


_NUMBERS = (int, float, bool)  # 1 == 1.0 == True: any of them can equal any other
_KINDS: dict[str, tuple[type, ...]] = {
    "int": _NUMBERS,
    "float": _NUMBERS,
    "bool": _NUMBERS,
    "str": (str,),
    "bytes": (bytes,),
    "list": (list,),
    "tuple": (tuple,),
    "dict": (dict,),
    "set": (set, frozenset),
    "frozenset": (set, frozenset),
}


def _fits(value: object, declared: ast.expr, plain: set[str]) -> bool | None:
    """Whether the literal ``value`` can equal a ``declared`` (None: cannot tell)."""
    if isinstance(declared, ast.Constant) and declared.value is None:
        return value is None
    if isinstance(declared, ast.BinOp) and isinstance(declared.op, ast.BitOr):
        return _any(value, [declared.left, declared.right], plain)
    head, args = _parts(declared)
    if head == "Optional":
        return _any(value, [*args, ast.Constant(None)], plain)
    if head == "Union":
        return _any(value, args, plain)
    if head in plain:
        return False  # a value written out in full is never an instance of the project's own class
    if head not in _KINDS:
        return None
    if not isinstance(value, _KINDS[head]):
        return False
    if not args:
        return True
    if isinstance(value, dict):
        if len(args) != 2:
            return None
        pairs = [(k, args[0]) for k in value] + [(v, args[1]) for v in value.values()]
    elif head == "tuple" and not (len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is ...):
        if len(value) != len(args):  # type: ignore[arg-type]
            return False
        pairs = list(zip(value, args, strict=True))  # type: ignore[call-overload]
    else:
        pairs = [(item, args[0]) for item in value]  # type: ignore[attr-defined]
    verdicts = [_fits(item, kind, plain) for item, kind in pairs]
    return False if False in verdicts else True if all(verdicts) else None


def _any(value: object, options: list[ast.expr], plain: set[str]) -> bool | None:
    verdicts = [_fits(value, option, plain) for option in options]
    return True if True in verdicts else False if all(v is False for v in verdicts) else None


def _parts(declared: ast.expr) -> tuple[str, list[ast.expr]]:
    """``list[tuple[str, float]]`` -> ('list', [tuple[str, float]]); typing's ``List`` is ``list``."""
    node, args = declared, []
    if isinstance(declared, ast.Subscript):
        node = declared.value
        inner = declared.slice
        args = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    if name in ("List", "Tuple", "Dict", "Set", "FrozenSet"):
        name = name.lower()
    return name, args
