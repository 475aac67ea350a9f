"""The concrete items of a change request, read from its text without a model.

Small models lose secondary requirements as they paraphrase (an error case, a re-export, an example's exact
value). What can be read mechanically is read here: the functions, classes and methods the request names with
their signatures (code spans), each error case and its exception, each worked example (``f(x) == y``,
``"a" gives {...}``, ``100 -> 212.0`` beside a signature) and each re-export. The spec phase checks its
scenarios against these items; an example the user wrote down becomes a scenario word for word.
"""

from __future__ import annotations

import ast
import re

from pydantic import BaseModel, Field

_SPAN = re.compile(r"`([^`\n]+)`")
_SIGNATURE = re.compile(r"^(?:def\s+)?([A-Za-z_]\w*)\s*\((.*)\)\s*(?:->\s*(.+))?$")
_EXCEPTION = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning))\b")
_ARROW = r"(?:->|→|=>|gives|returns|is|becomes|yields|equals)"
_GIVES = re.compile(rf"`([^`\n]+)`\s*(?:{_ARROW}|into)\s*`([^`\n]+)`")
_OLD_BEHAVIOUR = re.compile(r"\b(today|currently|used to|instead of|before the change|no longer|wrongly)\b", re.I)
_EG = re.compile(r"\be\.g\.?\s*,?\s*([^()\n;]+?)\s*(?:->|→|=>)\s*([^()\n,;]+)")
_SENTENCE = re.compile(r"[^.\n]+(?:\.(?!\s|$)[^.\n]*)*[.\n]?")


class NamedCallable(BaseModel):
    """A function, class or method the request names (with its signature when it gives one)."""

    name: str
    signature: str = ""
    owner: str = Field("", description="The class a method belongs to, when the request says so.")


class ErrorCase(BaseModel):
    """An exception the request says must be raised, and the sentence that says when."""

    exception: str
    when: str
    names: list[str] = Field(default_factory=list, description="Callables the same sentence names.")


class WorkedExample(BaseModel):
    """A call and the value the request says it returns."""

    call: str
    expect: str
    source: str


class ReExport(BaseModel):
    """Names the request wants importable from a package (its ``__init__``)."""

    package: str
    names: list[str]
    all_list: bool = Field(False, description="The request also asks for them in __all__.")


class RequestItems(BaseModel):
    callables: list[NamedCallable] = Field(default_factory=list)
    errors: list[ErrorCase] = Field(default_factory=list)
    examples: list[WorkedExample] = Field(default_factory=list)
    reexports: list[ReExport] = Field(default_factory=list)

    def names(self) -> list[str]:
        return [c.name for c in self.callables]


def _expression(text: str) -> ast.expr | None:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None


def _signature(span: str) -> NamedCallable | None:
    """A code span that declares a callable (``f(a, b=1)``, ``f(x: int) -> str``), not one that calls it
    with values (``f(items, 0)``): it parses as the head of a ``def``."""
    match = _SIGNATURE.match(span.strip())
    if not match or match.group(1) in _BUILTIN_CALLS:
        return None
    try:
        ast.parse(f"def {match.group(1)}({match.group(2)}){' -> ' + match.group(3) if match.group(3) else ''}: pass")
    except SyntaxError:
        return None
    return NamedCallable(name=match.group(1), signature=span.strip())


_BUILTIN_CALLS = {"print", "len", "str", "int", "float", "list", "dict", "set", "tuple", "range", "sorted"}


def _calls(expr: ast.expr | None) -> list[str]:
    if expr is None:
        return []
    return [n.func.id for n in ast.walk(expr) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]


def extract(request: str) -> RequestItems:
    """Every item of ``request`` that can be read without a model."""
    items = RequestItems()
    spans = _SPAN.findall(request)
    for span in spans:
        found = _signature(span)
        if found and found.name not in items.names():
            items.callables.append(found)
    for match in re.finditer(r"(?:`([A-Z]\w*)`\s+class|class\s+`([A-Z]\w*)`)", request):
        name = match.group(1) or match.group(2)
        if name not in items.names():
            items.callables.append(NamedCallable(name=name))
    _methods(request, items)
    _examples(request, items)
    _errors(request, items)
    _reexports(request, items)
    return items


def _methods(request: str, items: RequestItems) -> None:
    """Callables listed under a class (``Cart`` then ``- `add(...)` ...``) belong to it."""
    classes = [c.name for c in items.callables if c.name[:1].isupper() and not c.name.endswith(("Error", "Exception"))]
    if len(classes) != 1:
        return
    for item in items.callables:
        if item.name != classes[0] and item.name[:1].islower():
            item.owner = classes[0]


def _examples(request: str, items: RequestItems) -> None:
    functions = [c.name for c in items.callables if not c.owner and c.name[:1].islower()]
    seen: set[tuple[str, str]] = set()

    def add(call: str, expect: str, source: str) -> None:
        call, expect = call.strip(), expect.strip().rstrip(".")
        if _expression(call) is None or _expression(expect) is None or (call, expect) in seen:
            return
        seen.add((call, expect))
        items.examples.append(WorkedExample(call=call, expect=expect, source=source.strip()))

    for span in _SPAN.findall(request):
        if "==" in span:
            left, _, right = span.partition("==")
            if _calls(_expression(left)):
                add(left, right, span)
    for line in request.splitlines():
        named = [f for f in functions if re.search(rf"`{re.escape(f)}\(", line)]
        target = named[0] if len(named) == 1 else functions[0] if len(functions) == 1 else ""
        for match in _GIVES.finditer(line):
            left, right = match.group(1), match.group(2)
            if _OLD_BEHAVIOUR.search(_clause_before(line, match.start())):
                continue  # "(today `f(-5)` returns ...)" describes the behaviour being replaced
            if _calls(_expression(left)):
                add(left, right, f"{left} -> {right}")
            elif target and _expression(left) is not None:
                add(f"{target}({left})", right, f"{left} -> {right}")
        signature = next((c for c in items.callables if c.signature and c.signature in line), None)
        if signature and not signature.owner:
            for left, right in _EG.findall(line):
                if _expression(left) is not None and not _calls(_expression(left)):
                    add(f"{signature.name}({left.strip()})", right, f"e.g. {left} -> {right}")


def _clause_before(line: str, at: int) -> str:
    """The text from the last sentence break or opening parenthesis before ``at``."""
    head = line[:at]
    cut = max(head.rfind("("), head.rfind(";"), head.rfind(". "))
    return head[cut + 1 :]


def _errors(request: str, items: RequestItems) -> None:
    """The exception named right after "raise(s)" in each sentence that says one must be raised."""
    names = items.names()
    for sentence in _sentences(request):
        verb = re.search(r"\b(?:raises?|raising)\b", sentence, re.IGNORECASE)
        found = _EXCEPTION.search(sentence, verb.end()) if verb else None
        if not found:
            continue
        mentioned = [n for n in names if re.search(rf"\b{re.escape(n)}\b", sentence)]
        if re.search(r"\b(both|each|all of them|every one)\b", sentence, re.IGNORECASE):
            mentioned = [c.name for c in items.callables if not c.owner] or mentioned
        items.errors.append(ErrorCase(exception=found.group(1), when=" ".join(sentence.split()), names=mentioned))


def _reexports(request: str, items: RequestItems) -> None:
    names = items.names()
    for sentence in _sentences(request):
        lowered = sentence.lower()
        if not ("export" in lowered or "__all__" in sentence or re.search(r"\bfrom [\w.]+ import\b", sentence)):
            continue
        package = ""
        init = re.search(r"([\w/]+)/__init__\.py", sentence)
        direct = re.search(r"\bfrom ([\w.]+) import\b", sentence)
        if init:
            package = init.group(1).replace("/", ".")
        elif direct:
            package = direct.group(1)
        exported = [n for n in names if re.search(rf"\b{re.escape(n)}\b", sentence)]
        exported += re.findall(r"`([A-Z]\w*(?:Error|Exception))`", sentence)  # an exception class to re-export
        if re.search(r"\b(both|them|these|all (?:the|of))\b", lowered):
            exported += [c.name for c in items.callables if not c.owner]
        exported = list(dict.fromkeys(exported))
        if package and exported:
            items.reexports.append(ReExport(package=package, names=exported, all_list="__all__" in sentence))


def _sentences(text: str) -> list[str]:
    """Sentences and list items; a sentence may span lines."""
    flat = re.sub(r"\n(?![-*]\s|\d+\.\s|\n)", " ", text)
    parts: list[str] = []
    for line in flat.splitlines():
        parts += [s.strip() for s in re.split(r"(?<=[.;])\s+(?=[A-Z`(-])", line) if s.strip()]
    return parts
