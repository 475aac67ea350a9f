"""A request's error bounds as calls: the stated conditions (`x < 1`, a negative `y`) read, and broken on
purpose, so each error case the user wrote becomes a call that must raise; and a model's scenario checked
against those bounds (one that raises where they say the call is fine contradicts the request)."""

from __future__ import annotations

import ast
import re
from collections import Counter

from pydantic import BaseModel

from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.request_items import SIGNATURE, ErrorCase, RequestItems, parse_expression

# --------------------------------------------------------------------------------------------------

_COMPARISON = re.compile(r"`([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)`")
_WORDED = (
    (re.compile(r"`([A-Za-z_]\w*)`\s+is\s+negative|negative\s+`([A-Za-z_]\w*)`"), "<", "0"),
    (re.compile(r"`([A-Za-z_]\w*)`\s+(?:is\s+)?(?:below|less than|smaller than)\s+(-?\d+(?:\.\d+)?)"), "<", None),
    (
        re.compile(r"`([A-Za-z_]\w*)`\s+(?:is\s+)?(?:above|greater than|more than|larger than)\s+(-?\d+(?:\.\d+)?)"),
        ">",
        None,
    ),
)


class Condition(BaseModel):
    """``param op value``: a parameter's bound the request states for an error case."""

    param: str
    op: str
    value: str

    def violating(self) -> str:
        """A literal that meets the condition (and so must raise): the nearest value past the bound."""
        if self.op == "==":  # a stated value, not a bound: the value itself
            return self.value
        number = float(self.value)
        step = 1 if "." not in self.value else 0.01
        if self.op == "<":
            out = number - step
        elif self.op == ">":
            out = number + step
        else:  # <= and >= are met at the bound itself
            out = number
        return str(int(out)) if "." not in self.value else f"{out:.2f}"


def conditions(sentence: str) -> list[Condition]:
    """The bounds a sentence states: `x < 1`, `x` is negative, a `x` below 1 …"""
    found = [Condition(param=p, op=op, value=v) for p, op, v in _COMPARISON.findall(sentence)]
    for pattern, op, fixed in _WORDED:
        for match in pattern.finditer(sentence):
            param = next(g for g in match.groups()[:2] if g and not re.fullmatch(r"-?\d+(?:\.\d+)?", g))
            value = fixed or match.groups()[-1]
            found.append(Condition(param=param, op=op, value=value))
    return found


_PLACEHOLDER = {
    "int": "1",
    "float": "1.0",
    "str": "'abc'",
    "bool": "True",
    "list": "[1]",
    "dict": "{}",
    "tuple": "(1,)",
}


def error_calls(items: RequestItems) -> list[tuple[str, str, str]]:
    """(call, exception, source) for each stated bound of a named function or class: the call passes a value
    that breaks the bound and plain values elsewhere (taken from the request's own examples when it has one)."""
    out: list[tuple[str, str, str]] = []
    callables = {c.name: c for c in items.callables if c.signature and not c.owner}
    for error in items.errors:
        targets = [n for n in error.names if n in callables] or (list(callables) if len(callables) == 1 else [])
        for name in targets:
            params = _parameters(callables[name].signature)
            for condition in conditions(error.when):
                if condition.param in params:
                    call = _call(name, params, condition, items)
                    if call:
                        out.append((call, error.exception, f"{condition.param} {condition.op} {condition.value}"))
    return list(dict.fromkeys(out))


def value_calls(items: RequestItems) -> list[tuple[str, str, str]]:
    """(call, expected value, source) for each value the request says a function returns for one parameter's
    value ("return `1` when `total == 0`"), with plain values for its other required parameters."""
    callables = {c.name: c for c in items.callables if c.signature and not c.owner}
    out = []
    for stated in items.values:
        params = _parameters(callables[stated.name].signature) if stated.name in callables else {}
        if stated.param in params:
            call = _call(stated.name, params, Condition(param=stated.param, op="==", value=stated.value), items)
            if not stated_raise(call, items)[0]:  # a plain value that breaks a stated bound is no example
                out.append((call, stated.expect, stated.source))
    return out


def _parameters(signature: str) -> dict[str, tuple[str, bool]]:
    """name -> (annotation, has a default), in order, from ``f(a: int, b=1) -> x``."""
    match = SIGNATURE.match(signature)
    if not match:
        return {}
    try:
        tree = parse_python(f"def f({match.group(3)}): pass")
    except SyntaxError:
        return {}
    args = tree.body[0].args  # type: ignore[attr-defined]
    defaults = len(args.defaults)
    out: dict[str, tuple[str, bool]] = {}
    for index, arg in enumerate(args.args):
        if arg.arg == "self":
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation else ""
        out[arg.arg] = (annotation, index >= len(args.args) - defaults)
    return out


_LISTY = re.compile(r"^(items|values|data|rows|seq|sequence|numbers|elements|entries|records|lines|.*s)$")
_TEXTY = re.compile(r"^(text|s|string|name|code|key|word|label|title|path|url|line|version|sku|part)$")


def _placeholder(param: str, annotation: str) -> str:
    """A plain value for a parameter the error case is not about: by its annotation, else by its name."""
    base = annotation.split("[")[0].split("|")[0].strip()
    if base in _PLACEHOLDER:
        return _PLACEHOLDER[base]
    if _TEXTY.match(param):
        return "'abc'"
    return "[1, 2, 3]" if _LISTY.match(param) else "1"


def _call(name: str, params: dict[str, tuple[str, bool]], condition: Condition, items: RequestItems) -> str:
    """``name(...)`` with the condition's parameter set to a violating value and every other required one to
    a plain value (the request's own example's, when it has one); defaults are left out."""
    example = next((e for e in items.examples if e.call.startswith(f"{name}(")), None)
    given: list[str] = []
    if example is not None:
        node = parse_expression(example.call)
        if isinstance(node, ast.Call) and not node.keywords:
            given = [ast.unparse(a) for a in node.args]
    args: list[str] = []
    keyword = ""
    for index, (param, (annotation, has_default)) in enumerate(params.items()):
        value = condition.violating() if param == condition.param else ""
        if value and has_default:
            keyword = f"{param}={value}"
        elif value:
            args.append(value)
        elif not has_default:
            args.append(given[index] if index < len(given) else _placeholder(param, annotation))
    return f"{name}({', '.join([*args, *([keyword] if keyword else [])])})"


def stated_raise(call: str, items: RequestItems, only: ErrorCase | None = None) -> tuple[str | None, bool]:
    """What the request's own error bounds say about ``call``: (exception it must raise or None, whether the
    request decides it). Decided only when the called function's every bound for an exception is a simple
    comparison on a parameter the call passes as a literal. ``only``: that error case's bound alone."""
    node = parse_expression(call)
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None, False
    function = next((c for c in items.callables if c.name == node.func.id and c.signature and not c.owner), None)
    if function is None:
        return None, False
    params = list(_parameters(function.signature))
    bound: dict[str, object] = {}
    for index, arg in enumerate(node.args):
        if index < len(params):
            bound[params[index]] = arg
    bound |= {k.arg: k.value for k in node.keywords if k.arg}
    decided = False
    for error in [only] if only else items.errors:
        if error.names and function.name not in error.names:
            continue
        stated = conditions(error.when)
        if not stated or len(stated) < _clauses(error.when):
            return None, False  # a bound the code cannot read: the request does not decide this call here
        for condition in stated:
            if condition.param not in params:
                return None, False
            value = bound.get(condition.param)
            if value is None:
                continue
            try:
                literal = ast.literal_eval(value)  # type: ignore[arg-type]
            except (ValueError, TypeError, SyntaxError):
                return None, False
            if not isinstance(literal, int | float) or isinstance(literal, bool):
                return None, False
            decided = True
            if _holds(float(literal), condition.op, float(condition.value)):
                return error.exception, True
    return None, decided


def error_gaps(items: RequestItems, raising: list[tuple[str, str]]) -> list[str]:
    """The request's error cases no scenario raises for; ``raising``: (exception, call) of each distinct raising
    scenario. A case is covered by a call that breaks its own readable bound, or else by a raising call that no
    readable bound of the same exception explains — one such call for each such case, so "`lo` above `hi`
    raises, and so does a negative `lo`" needs a scenario beside the ones with a negative `lo`."""
    gaps, used = [], Counter[tuple[str, tuple[str, ...]]]()
    for error in items.errors:
        calls = [
            call
            for exception, call in raising
            if exception == error.exception
            and (not error.names or any(re.search(rf"\b{re.escape(n)}\b", call) for n in error.names))
        ]
        if any(stated_raise(call, items, error)[0] for call in calls):
            continue
        group = [e for e in items.errors if (e.exception, e.names) == (error.exception, error.names)]
        unexplained = [c for c in calls if not any(stated_raise(c, items, e)[0] for e in group)]
        key = (error.exception, tuple(error.names))
        if len(unexplained) > used[key]:
            used[key] += 1
        else:
            gaps.append(f"no scenario raises `{error.exception}` for: {error.when}")
    return gaps


_CLAUSE_END = re.compile(
    r";|\.(?:\s|$)|,?\s+(?:and|but)\s+(?:must|should|shall|returns?|raises?|keeps?)\b|,?\s+because\b", re.IGNORECASE
)


def _clauses(sentence: str) -> int:
    """How many conditions a sentence states after its "if"/"when"/"for" (joined by "or" / "and" / commas).
    An aside in brackets and what follows the condition ("…, and must return 1 when …") state no bound."""
    match = re.search(r"\b(?:if|when|whenever|for)\b(.*)", sentence, re.IGNORECASE | re.DOTALL)
    if not match:
        return 1
    text, before = match.group(1), ""
    while text != before:  # innermost brackets first: an aside may quote a call
        before, text = text, re.sub(r"\([^()]*\)", "", text)
    text = _CLAUSE_END.split(text, maxsplit=1)[0]
    return 1 + len(re.findall(r"\bor\b|\band\b|,", text))


def _holds(value: float, op: str, bound: float) -> bool:
    return {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound}[op]
