"""The concrete items of a change request, read from its text without a model.

Small models lose secondary requirements as they paraphrase (an error case, a re-export, an example's exact
value). What can be read mechanically is read here: the functions, classes and methods the request names with
their signatures (code spans), each error case and its exception, each worked example (``f(x) == y``,
``"a" gives {...}``, ``100 -> 212.0`` beside a signature) and each re-export. The spec phase checks its
scenarios against these items; an example the user wrote down becomes a scenario word for word.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.pyparse import parse_python

_SPAN = re.compile(r"`([^`\n]+)`")
SIGNATURE = re.compile(r"^(?:def\s+)?(?:([A-Z]\w*)\.)?([A-Za-z_]\w*)\s*\((.*)\)\s*(?:->\s*(.+))?$")
_EXCEPTION = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning))\b")
_EXCEPTION_SPAN = re.compile(r"`([A-Z]\w*(?:Error|Exception))`")  # an exception class written as code
_ARROW = r"(?:->|→|=>|gives|returns|is|becomes|yields|equals)"
_GIVES = re.compile(rf"`([^`\n]+)`\s*(?:{_ARROW}|into)\s*`([^`\n]+)`")
_OLD_BEHAVIOUR = re.compile(r"\b(today|currently|used to|instead of|before the change|no longer|wrongly)\b", re.I)
_EG_PAIR = r"([^()\n;]+?)\s*(?:->|→|=>)\s*([^()\n,;]+?)(?=\s*(?:[,;)]|\band\b|\bor\b|$))"
_EG = re.compile(rf"\be\.g\.?\s*,?\s*{_EG_PAIR}")
_EG_MORE = re.compile(rf"\s*(?:,|\band\b|\bor\b)\s*(?!e\.g)(?=[^,;]*(?:->|→|=>)){_EG_PAIR}")  # "e.g. 1 -> 2, 3 -> 4"
_ALIAS = re.compile(
    r"`([^`\n]+)`\s*(?:means|stands for|is short for|is shorthand for|is the same as|is equivalent to|is read as)\s*"
    r"`([^`\n]+)`"
)
_RAISE = re.compile(r"\b(?:raises?|raising|throws?|throwing)\b", re.I)
_RAISED = re.compile(
    r"\b([A-Z]\w*(?:Error|Exception|Warning))`?\s+(?:is|are|gets|(?:must|should|will) be)\s+(?:raised|thrown)\b"
)
_DENIED = re.compile(r"(?:\bnot|\bnever|n't|\bno longer|\binstead of|\bwithout)\s+(?:\w+\s+)?$", re.I)
_WAS = re.compile(r"\b(?:today|currently|used to|before the change|wrongly)\b", re.I)
_IS_SINGLETON = re.compile(r"(.+?)\s+is\s+(True|False|None)")
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


class StatedValue(BaseModel):
    """A value the request says a function returns when one parameter has one value: "must return `1` when
    `total == 0`". The call is built from the signature (other parameters get plain values)."""

    name: str
    param: str
    value: str
    expect: str
    source: str


class ReExport(BaseModel):
    """Names the request wants importable from a package (its ``__init__``)."""

    package: str
    names: list[str]
    all_list: bool = Field(False, description="The request also asks for them in __all__.")


class NewException(BaseModel):
    """An exception class the request asks the change to define: "a new exception `E`, defined in `m.py` as a
    subclass of `ValueError`"."""

    name: str
    base: str = Field("Exception", description="Its base class (Exception when the request names none).")
    path: str = Field(description="The file the request puts it in.")
    raised_for: str = Field("", description="What raises it, in the request's words (before 'raises').")


class RequestItems(BaseModel):
    callables: list[NamedCallable] = Field(default_factory=list)
    errors: list[ErrorCase] = Field(default_factory=list)
    examples: list[WorkedExample] = Field(default_factory=list)
    reexports: list[ReExport] = Field(default_factory=list)
    values: list[StatedValue] = Field(default_factory=list)
    new_exceptions: list[NewException] = Field(default_factory=list)
    protocols: list[str] = Field(
        default_factory=list, description="A builtin applied to an instance, e.g. `len(buffer)`: a dunder to write."
    )

    def names(self) -> list[str]:
        return [c.name for c in self.callables]


def written_calls(request: str) -> set[str]:
    """Every call the request writes in its code spans, normalised (``ast.unparse``)."""
    calls = set()
    for span in _SPAN.findall(request):
        parsed = parse_expression(span)
        calls |= {ast.unparse(n) for n in ast.walk(parsed) if isinstance(n, ast.Call)} if parsed else set()
    return calls


def parse_expression(text: str) -> ast.expr | None:
    try:
        return parse_python(text.strip(), mode="eval").body
    except SyntaxError:
        return None


def _signature(span: str) -> NamedCallable | None:
    """A code span that declares a callable (``f(a, b=1)``, ``f(x: int) -> str``), not one that calls it
    with values (``f(items, 0)``): it parses as the head of a ``def``."""
    match = SIGNATURE.match(span.strip())
    if not match or match.group(2) in _BUILTIN_CALLS:
        return None
    owner, name, params, returns = match.groups()
    try:
        parse_python(f"def {name}({params}){' -> ' + returns if returns else ''}: pass")
    except SyntaxError:
        return None
    return NamedCallable(name=name, signature=span.strip(), owner=owner or "")


_BUILTIN_NAMES = set(dir(builtins))
_PROTOCOL = re.compile(r"^(?:len|iter|bool|str|repr|reversed|hash|abs)\(\s*[a-z_]\w*\s*\)$")  # `len(buffer)`
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
        if found and found.owner and found.owner not in items.names():
            items.callables.append(NamedCallable(name=found.owner))  # `Cart.add(x)` names the class too
    for match in re.finditer(r"(?:`([A-Z]\w*)`\s+class|class\s+`([A-Z]\w*)`)", request):
        name = match.group(1) or match.group(2)
        if name not in items.names():
            items.callables.append(NamedCallable(name=name))
    _methods(request, items)
    classes = [c.name for c in items.callables if c.name[:1].isupper()]
    items.protocols = list(dict.fromkeys(span.strip() for span in spans if classes and _PROTOCOL.match(span.strip())))
    _examples(request, items)
    _errors(request, items)
    _new_exceptions(request, items)
    _reexports(request, items)
    _stated_values(request, items)
    return items


def _methods(request: str, items: RequestItems) -> None:
    """Callables listed under a class (``Cart`` then ``- `add(...)` ...``) belong to it; one named before the
    class, or called a function or helper, does not."""
    classes = [c.name for c in items.callables if c.name[:1].isupper() and not c.name.endswith(("Error", "Exception"))]
    if len(classes) != 1:
        return
    class_at = _first_mention(request, classes[0])
    for item in items.callables:
        if item.owner or item.name == classes[0] or not item.name[:1].islower():
            continue
        at = _first_mention(request, item.name)
        if at < class_at or re.search(r"\b(?:function|helper)s?\W*$", request[max(0, at - 30) : at], re.I):
            continue
        item.owner = classes[0]


def _first_mention(request: str, name: str) -> int:
    found = re.search(rf"`{re.escape(name)}\b", request) or re.search(rf"\b{re.escape(name)}\b", request)
    return found.start() if found else len(request)


def _examples(request: str, items: RequestItems) -> None:
    functions = [c.name for c in items.callables if not c.owner and c.name[:1].islower()]
    known = set(items.names()) | _BUILTIN_NAMES
    methods = {c.name for c in items.callables if c.owner} - {c.name for c in items.callables if not c.owner}
    seen: set[tuple[str, str]] = set()

    def add(call: str, expect: str, source: str) -> None:
        call, expect = call.strip(), expect.strip().rstrip(".")
        parsed = parse_expression(call)
        if parsed is None or parse_expression(expect) is None or (call, expect) in seen:
            return
        if isinstance(parsed, ast.Call) and isinstance(parsed.func, ast.Name) and parsed.func.id in methods:
            return  # `top(2) == [...]` after "`add(...)`": a method's result on an object the request set up
        called = {id(n.func) for n in ast.walk(parsed) if isinstance(n, ast.Call)}
        if any(isinstance(n, ast.Name) and id(n) not in called and n.id not in known for n in ast.walk(parsed)):
            return  # `f(items) == y`, `len(buffer) == 3`: a description with placeholders, not a value to test
        seen.add((call, expect))
        items.examples.append(WorkedExample(call=call, expect=expect, source=source.strip()))

    for line in request.splitlines():
        for match in _SPAN.finditer(line):
            left, equals, right = match.group(1).partition("==")
            if singleton := _IS_SINGLETON.fullmatch(match.group(1).strip()):  # `f(x) is True`: a value too
                left, equals, right = singleton.group(1), "is", singleton.group(2)
            if (
                equals
                and _calls(parse_expression(left))
                and not _OLD_BEHAVIOUR.search(_clause_before(line, match.start()))
            ):
                add(left, right, match.group(1))
    for line in request.splitlines():
        named = [f for f in functions if re.search(rf"`{re.escape(f)}\(", line)]
        target = named[0] if len(named) == 1 else functions[0] if len(functions) == 1 else ""
        for match in _GIVES.finditer(line):
            left, right = match.group(1), match.group(2)
            if _OLD_BEHAVIOUR.search(_clause_before(line, match.start())):
                continue  # "(today `f(-5)` returns ...)" describes the behaviour being replaced
            if _calls(parse_expression(left)):
                add(left, right, f"{left} -> {right}")
            elif target and _literal(left):
                add(f"{target}({left})", right, f"{left} -> {right}")
        signature = next((c for c in items.callables if c.signature and c.signature in line), None)
        if signature is None and len(functions) == 1:  # one function in the request: its examples are its own
            signature = next(c for c in items.callables if c.name == functions[0])
        if signature and not signature.owner:
            for match in _EG.finditer(line):
                pairs, at = [match.groups()], match.end()
                while more := _EG_MORE.match(line, at):
                    pairs.append(more.groups())
                    at = more.end()
                for left, right in pairs:
                    if _literal(left):
                        add(f"{signature.name}({left.strip()})", right, f"e.g. {left.strip()} -> {right.strip()}")
    for line in request.splitlines():
        for match in _ALIAS.finditer(line):
            _alias(match.group(1), match.group(2), add, list(items.examples))


def _alias(short: str, full: str, add: Callable[[str, str, str], None], examples: list[WorkedExample]) -> None:
    """`"x1F"` means `"0x1F"`: an input the request equates with another gives the same result, so a worked
    example of the full form (``f("0x1F") == 31``) is one of the short form too, and trusted like it."""
    if not (_literal(short) and _literal(full)) or ast.literal_eval(short) == ast.literal_eval(full):
        return
    for example in examples:
        call = parse_expression(example.call)
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and len(call.args) == 1
            and not call.keywords
            and _literal(ast.unparse(call.args[0]))
            and ast.literal_eval(call.args[0]) == ast.literal_eval(full)
        ):
            add(f"{call.func.id}({short.strip()})", example.expect, f"{short.strip()} means {full.strip()}")


def _literal(text: str) -> bool:
    """A value written out (``100``, ``"a,b"``, ``(1, 2)``), not a name or an expression to work out."""
    try:
        ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _clause_before(line: str, at: int) -> str:
    """The text from the last sentence break, colon or parenthesis before ``at`` (code spans do not count: the
    ``(`` of ``f(x)`` opens no aside), so "(today `f(1)` is `2`) and `f(3) == 4`" leaves the aside behind, and
    in "the input no longer has to be sorted: `f([2, 1]) == [1, 2]`" the example after the colon shows the
    new behaviour the clause names."""
    head = _masked(line[:at])
    cut = max(head.rfind("("), head.rfind(")"), head.rfind(";"), head.rfind(". "), head.rfind(": "))
    return head[cut + 1 :]


def _errors(request: str, items: RequestItems) -> None:
    """The exception named right after "raise(s)" in each sentence that says one must be raised."""
    names = items.names()
    for sentence in _sentences(request):
        exception = _raised(sentence)
        if not exception:
            continue
        mentioned = [n for n in names if re.search(rf"\b{re.escape(n)}\b", sentence)]
        if re.search(r"\b(both|each|all of them|every one)\b", sentence, re.IGNORECASE):
            mentioned = [c.name for c in items.callables if not c.owner] or mentioned
        first, *more = _ALSO.split(sentence)
        items.errors.append(ErrorCase(exception=exception, when=" ".join(first.split()), names=mentioned))
        for also in more:  # "…, and so does a negative `gap`": a second condition, with a scenario of its own
            when = f"{' '.join(also.split()).rstrip('.;')} (raises `{exception}` too)"
            items.errors.append(ErrorCase(exception=exception, when=when, names=mentioned))


_ALSO = re.compile(r",?\s+(?:and\s+)?(?:so\s+(?:does|do)|as\s+(?:does|do))\s+(?=\S)", re.I)
_NEW = re.compile(r"\b(?:new|defines?|defined|adds?|added|creates?|created)\b", re.I)
_NOT_NEW = re.compile(r"\b(?:already|existing|exists|export(?:s|ed)?|re-export(?:s|ed)?)\b|__all__", re.I)
_BASE_AFTER = re.compile(
    r"^[^.;:]*?\b(?:subclass(?:es|ing)?(?:\s+of)?|inherit(?:s|ing)?\s+from|derive[sd]?\s+from|extend(?:s|ing)?)"
    r"\s+`?([A-Z]\w*)`?"
)
_BASE_BEFORE = re.compile(r"`([A-Z]\w*)`\s+subclass\b")
_CLASS_SPAN = re.compile(r"`class\s+([A-Z]\w*)\s*(?:\(\s*([A-Z]\w*)\s*\))?\s*:?\s*`")
_BASED_SPAN = re.compile(r"`([A-Z]\w*)\(\s*([A-Z]\w*(?:Error|Exception))\s*\)`")  # `E(ValueError)`: with its base
_PY_PATH = re.compile(r"`([\w./-]+\.py)`")


def _new_exceptions(request: str, items: RequestItems) -> None:
    """Exception classes a sentence says the change defines, with the base class and file it gives (the one
    module the request names when the sentence names none). A builtin, an existing class or a sentence that
    does not say the class is new is no item."""
    modules = [p for p in dict.fromkeys(_PY_PATH.findall(request)) if not p.endswith("__init__.py")]
    for sentence in _sentences(request):
        prose = _masked(sentence)
        if not _NEW.search(prose) or _NOT_NEW.search(prose):
            continue
        declared = [
            (m.group(1), m.group(2) or "", m.end())
            for m in [*_CLASS_SPAN.finditer(sentence), *_BASED_SPAN.finditer(sentence)]
        ]
        declared += [
            (m.group(1), "", m.end())
            for m in _EXCEPTION_SPAN.finditer(sentence)
            if m.group(1) not in {d[0] for d in declared}
        ]
        paths = [p for p in dict.fromkeys(_PY_PATH.findall(sentence)) if not p.endswith("__init__.py")]
        path = paths[0] if len(paths) == 1 else (modules[0] if not paths and len(modules) == 1 else "")
        bases = {found.group(1) for found in _BASE_BEFORE.finditer(sentence)}
        unstopped = _SPAN.sub(lambda span: re.sub(r"[.;:]", "_", span.group(0)), sentence)  # a path is no stop
        verb = _RAISE.search(sentence)
        raised_for = " ".join(sentence[: verb.start()].replace("`", "").split()).lstrip("-* ") if verb else ""
        for name, base, end in declared:
            after = _BASE_AFTER.search(unstopped[end:])
            base = base or (after.group(1) if after else "") or next(iter(bases - {name}), "") or "Exception"
            if not path or name in bases or hasattr(builtins, name) or name == base:
                continue
            found = NewException(name=name, base=base, path=path, raised_for=raised_for)
            at = next((i for i, e in enumerate(items.new_exceptions) if e.name == name), None)
            if at is None:
                items.new_exceptions.append(found)
            elif items.new_exceptions[at].base == "Exception":  # a later sentence gives the base
                items.new_exceptions[at] = found


def _raised(sentence: str) -> str:
    """The exception a sentence says must be raised ('' if none): the first one after "raise(s)"/"throw(s)",
    or before "is raised"; a raise that is denied ("must not raise") or old behaviour ("today it raises")
    does not count."""
    for verb in _RAISE.finditer(sentence):
        found = _EXCEPTION.search(sentence, verb.end())
        if found and _asserted(sentence, verb.start()):
            return found.group(1)
    for passive in _RAISED.finditer(sentence):
        if _asserted(sentence, passive.start()):
            return passive.group(1)
    return ""


def _asserted(sentence: str, at: int) -> bool:
    """The raise at ``at`` is asked for: not denied just before it, not in a clause about today's code."""
    return not _DENIED.search(_masked(sentence[:at])) and not _WAS.search(_clause_before(sentence, at))


def _masked(text: str) -> str:
    """``text`` with each code span's inside blanked (same length), so code is never read as prose."""
    return _SPAN.sub(lambda span: "`" + "x" * (len(span.group(0)) - 2) + "`", text)


def _names(sentence: str, name: str) -> bool:
    """Whether ``sentence`` names ``name``; one that reads as an English word (`add`, `top`) only as code, for
    in prose it is the word ("add it to `__all__`")."""
    start = "`" if name.isalpha() and name.islower() else r"\b"
    return bool(re.search(rf"{start}{re.escape(name)}\b", sentence))


def _reexports(request: str, items: RequestItems) -> None:
    names = items.names()
    for sentence in _sentences(request):
        lowered = sentence.lower()
        if not ("export" in lowered or "__all__" in sentence or re.search(r"\bfrom [\w.]+ import\b", sentence)):
            continue
        package = ""
        init = re.search(r"([\w/]+)/__init__\.py", sentence)
        direct = re.search(r"\bfrom ([\w.]+) import ([\w ,]+)", sentence)
        if init:
            package = init.group(1).replace("/", ".")
        elif direct:
            package = direct.group(1)
        exported = [n for n in names if _names(sentence, n)]
        if direct and direct.group(1) == package:  # `from pkg import a, b`: the names it imports
            exported += [n.split()[0] for n in direct.group(2).split(",") if n.strip()]
        exported += _EXCEPTION_SPAN.findall(sentence)  # an exception class to re-export
        if re.search(r"\b(both|them|these|all (?:the|of))\b", lowered):
            exported += [c.name for c in items.callables if not c.owner]
        exported = list(dict.fromkeys(exported))
        if package and exported:
            items.reexports.append(ReExport(package=package, names=exported, all_list="__all__" in sentence))


_VALUE_WHEN = re.compile(
    r"\breturns?\s+`([^`\n]+)`(?:\s*\([^)]*\))?,?\s+(?:when|if|for)\s+`([A-Za-z_]\w*)\s*==\s*([^`\n]+)`"
)


def _stated_values(request: str, items: RequestItems) -> None:
    """ "`f(a, b)` … must return `1` when `a == 0`": the one function with a signature the sentence names,
    the parameter's value and the result (not a denied or old-behaviour one)."""
    functions = [c for c in items.callables if c.signature and not c.owner and c.name[:1].islower()]
    for sentence in _sentences(request):
        named = [f for f in functions if f.signature in sentence]
        if len(named) != 1:
            continue
        for match in _VALUE_WHEN.finditer(sentence):
            expect, param, value = match.group(1), match.group(2), match.group(3).strip()
            if not _asserted(sentence, match.start()) or parse_expression(expect) is None or not _literal(value):
                continue
            items.values.append(
                StatedValue(name=named[0].name, param=param, value=value, expect=expect, source=match.group(0))
            )


def _sentences(text: str) -> list[str]:
    """Sentences and list items; a sentence may span lines."""
    flat = re.sub(r"\n(?![-*]\s|\d+\.\s|\n)", " ", text)
    parts: list[str] = []
    for line in flat.splitlines():
        parts += [s.strip() for s in re.split(r"(?<=[.;])\s+(?=[A-Z`(-])", line) if s.strip()]
    return parts
