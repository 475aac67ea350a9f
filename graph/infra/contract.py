"""The change's executable contract: each spec scenario as one pytest test, written before any code.

A scenario's example is code, not prose: what to set up, what to call, what must come out (a value or an
exception). The tests are rendered from it deterministically — no model writes test code — so a test never
has a syntax error, a missing fixture or a module-level import that would break the other tests in its file
(each test imports what it needs inside itself). ``red_problem`` reads how a test failed on the unchanged
repository and tells the right kind of failure (the behaviour is missing) from a broken test.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import sys
from collections.abc import Iterable

from pydantic import BaseModel, Field, field_validator, model_validator

from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.testrun import TestOutcome

_BUILTIN_NAMES = set(dir(builtins))
BEGIN = "# >>> sdd contract: {change}"
END = "# <<< sdd contract: {change}"
NOTE = "# Generated from the change's spec scenarios (openspec/changes/{change}/specs): change the spec, not these."


class Example(BaseModel):
    """A scenario as code: what to set up, what to call, and the value it returns or the exception it raises."""

    setup: list[str] = Field(default_factory=list, max_length=8, description="Statements run first, e.g. 'c = Cart()'.")
    call: str = Field(description="One Python expression, e.g. \"split('a,b', ',')\".")
    expect: str | None = Field(None, description="Python expression of the expected value, e.g. \"['a', 'b']\".")
    raises: str | None = Field(None, description="Exception class name if the call must raise, e.g. 'ValueError'.")
    module: str | None = Field(None, description="Module the called names come from, e.g. 'pkg.mod'.")
    imports: dict[str, str] = Field(
        default_factory=dict, description="name -> module, for a name that already lives elsewhere (a helper)."
    )

    @field_validator("call", "expect", mode="before")
    @classmethod
    def _expression(cls, value: object) -> object:
        if value is None:
            return None
        text = strip_code(str(value))
        if not text or text.lower() in ("none given", "n/a"):
            return None
        try:
            parse_python(text, mode="eval")
        except SyntaxError as err:
            raise ValueError(f"not a Python expression: {text!r} ({err.msg})") from None
        return text

    @field_validator("setup", mode="before")
    @classmethod
    def _statements(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(";")
        if not isinstance(value, list):
            return value
        lines = [line for line in (strip_code(str(v)) for v in value) if line]
        for line in lines:
            try:
                parse_python(line)
            except SyntaxError as err:
                raise ValueError(f"setup is not a Python statement: {line!r} ({err.msg})") from None
        return lines

    @field_validator("raises", mode="before")
    @classmethod
    def _exception(cls, value: object) -> object:
        if value is None:
            return None
        name = strip_code(str(value)).removeprefix("raises ").strip().rstrip("()").split(".")[-1]
        if not name or name.lower() in ("none", "null", "no", "false", "nothing"):
            return None
        if not name.isidentifier():
            raise ValueError(f"raises must be an exception class name, got {value!r}")
        return name

    @field_validator("module", mode="before")
    @classmethod
    def _module(cls, value: object) -> object:
        if value is None:
            return None
        text = strip_code(str(value)).removesuffix(".py").replace("/", ".").removesuffix(".__init__").strip(".")
        return text if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", text) else None

    @model_validator(mode="after")
    def _one_outcome(self) -> Example:
        if self.raises and self.expect is not None:
            self.expect = None  # "raises X" wins: a value cannot come back from a call that raises
        if self.expect is None and self.raises is None:
            raise ValueError("give either expect (the value the call returns) or raises (the exception name)")
        return self

    def when(self) -> str:
        setup = f"`{'; '.join(self.setup)}` then " if self.setup else ""
        return f"{setup}`{self.call}` is evaluated"

    def then(self) -> str:
        return f"it raises `{self.raises}`" if self.raises else f"the result is `{self.expect}`"

    def names(self) -> list[str]:
        """Names the example takes from the code under test: not builtins, not assigned in its own setup."""
        assigned: set[str] = set()
        used: list[str] = []
        trees = [parse_python(source) for source in [*self.setup, self.call, self.expect or ""] if source]
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    assigned.add(node.id)
                elif isinstance(node, ast.arg):
                    assigned.add(node.arg)
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in used:
                    used.append(node.id)
        return [n for n in used if n not in assigned and n not in _BUILTIN_NAMES and n != "pytest"]

    def stdlib_modules(self) -> list[str]:
        """Of ``names()``, the standard-library modules the example only reads attributes of (``math.ceil``):
        the test imports them itself, not from the code under test."""
        trees = [parse_python(source) for source in [*self.setup, self.call, self.expect or ""] if source]
        nodes = [node for tree in trees for node in ast.walk(tree)]
        bases = {id(n.value) for n in nodes if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
        return [
            name
            for name in self.names()
            if name in sys.stdlib_module_names
            and all(id(n) in bases for n in nodes if isinstance(n, ast.Name) and n.id == name)
        ]

    def import_lines(self) -> list[str]:
        """The imports the example needs: standard modules it reads, then the names it takes from the code."""
        names = self.names()
        standard = [n for n in self.stdlib_modules() if n not in self.imports]
        lines = [f"import {module}" for module in standard]
        own = [n for n in names if n not in self.imports and n not in standard]
        if own and self.module:
            lines.append(f"from {self.module} import {', '.join(own)}")
        for module in dict.fromkeys(self.imports[n] for n in names if n in self.imports):
            lines.append(f"from {module} import {', '.join(n for n in names if self.imports.get(n) == module)}")
        return lines

    def key(self) -> str:
        """The call, normalised, so the same call written two ways compares equal."""
        return normal_code(self.call)


def strip_code(text: str) -> str:
    """A snippet without the backticks, fences or trailing semicolons small models wrap code in."""
    text = re.sub(r"^```\w*\s*|\s*```$", "", text.strip())
    return text.strip().strip("`").strip().rstrip(";").strip()


def normal_code(expression: str) -> str:
    """One spelling of an expression (quotes, spaces), so the same code written two ways compares equal."""
    try:
        return ast.unparse(parse_python(expression, mode="eval"))
    except (SyntaxError, ValueError):
        return expression.strip()


def same_value(a: str, b: str) -> bool:
    """Two expected-value expressions that mean the same literal (``1.0`` and ``1.00``; quotes either way)."""
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return normal_code(a) == normal_code(b)


class ContractTest(BaseModel):
    """One generated test: which scenario it checks, its name and its source."""

    capability: str
    requirement: str
    scenario: str
    name: str
    source: str


def test_name(scenario: str, taken: set[str]) -> str:
    """``test_<scenario in snake case>``, unique within the file."""
    words = re.findall(r"[a-z0-9]+", scenario.lower())
    base = "test_" + ("_".join(words)[:60].strip("_") or "scenario")
    if keyword.iskeyword(base):
        base += "_"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def render_test(name: str, requirement: str, scenario: str, example: Example) -> str:
    """The test function for one scenario; it imports inside itself, so a missing name fails this test alone."""
    lines = [f"def {name}():", f'    """{_doc(scenario)} ({_doc(requirement)})."""']
    expected = example.expect or "None"
    approx = _approximate(expected)
    if example.raises or approx:
        lines.append("    import pytest")
    lines += [f"    {line}" for line in [*example.import_lines(), *example.setup]]
    if example.raises:
        exc = example.raises if example.raises in _BUILTIN_NAMES else "Exception"
        lines += [f"    with pytest.raises({exc}) as raised:", f"        {example.call}"]
        if exc != example.raises:
            lines.append(f"    assert {example.raises!r} in [c.__name__ for c in type(raised.value).__mro__]")
    else:
        if approx:
            expected = f"pytest.approx({expected})"
        lines += [f"    result = {example.call}", f"    assert result == {expected}"]
    return "\n".join(lines) + "\n"


def _doc(text: str) -> str:
    return text.replace('"""', "'''").replace("\\", "/").strip().rstrip(".")


_CONTAINERS = (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _approximate(expression: str) -> bool:
    """Compare with ``pytest.approx``: the value has a float in it, and approx can take its shape (it raises
    TypeError on nested containers and sets, which would fail the test for correct code too)."""
    tree = parse_python(expression, mode="eval").body
    if not any(isinstance(n, ast.Constant) and isinstance(n.value, float) for n in ast.walk(tree)):
        return False
    if isinstance(tree, ast.Set | ast.SetComp):
        return False
    if isinstance(tree, ast.List | ast.Tuple):
        return not any(isinstance(e, _CONTAINERS) for e in tree.elts)
    if isinstance(tree, ast.Dict):
        return not any(isinstance(v, _CONTAINERS) for v in tree.values)
    return True


def contract_block(change: str, tests: Iterable[ContractTest]) -> str:
    """The generated tests between markers, so a later spec revision replaces exactly them."""
    body = "\n\n".join(t.source for t in tests)
    return f"{BEGIN.format(change=change)}\n{NOTE.format(change=change)}\n\n\n{body}\n\n{END.format(change=change)}\n"


def with_contract(current: str | None, change: str, block: str) -> str:
    """A test file's text with this change's contract block put in (replacing an earlier one)."""
    text = current or ""
    begin, end = (re.escape(marker.format(change=change)) for marker in (BEGIN, END))
    # whole lines only: change "add-x" must not take the block of change "add-x-errors"
    earlier = re.search(rf"^{begin}[ \t]*$.*?^{end}[ \t]*$\n?", text, re.MULTILINE | re.DOTALL)
    if earlier:
        head, tail = text[: earlier.start()].rstrip(), text[earlier.end() :].lstrip("\n")
        return (f"{head}\n\n\n" if head else "") + block + (f"\n\n{tail}" if tail.strip() else "")
    return f"{text.rstrip()}\n\n\n{block}" if text.strip() else block


# --------------------------------------------------------------------------------------------------
# Judging a red run: the behaviour is missing (right) or the test is broken (wrong)
# --------------------------------------------------------------------------------------------------

_WRONG = {"SyntaxError", "IndentationError", "NameError", "FixtureError", "UnboundLocalError"}


def red_problem(outcome: TestOutcome, may_be_new: Iterable[str], existing: Iterable[str]) -> str:
    """Why a test that failed on the unchanged repository failed for the wrong reason ('' = a right reason).

    Right: a name or module the change adds cannot be imported, an attribute is missing, an assertion fails,
    the expected exception is not raised, a new argument is not accepted, the old code raises on the new input.
    Wrong: the test itself is broken — a syntax or name error, a missing fixture, an import of a module that
    neither exists nor could be created by the change (``may_be_new``: modules the change may add).
    """
    if outcome.status in ("passed", "skipped"):
        return ""
    if outcome.status == "error" or outcome.kind in _WRONG:
        return f"the test itself is broken ({outcome.kind}: {outcome.message[:200]})"
    if outcome.kind == "ModuleNotFoundError":
        module = (re.search(r"No module named '([\w.]+)'", outcome.message) or [None, ""])[1]
        packages = {m.rsplit(".", 1)[0] for m in existing if "." in m} | set(existing)
        parent = module.rsplit(".", 1)[0] if "." in module else ""
        # Python names the first missing part: `from newpkg.mod import f` fails with "No module named 'newpkg'"
        planned = any(m == module or m.startswith(f"{module}.") for m in may_be_new)
        if module and not planned and parent not in packages:
            return f"it imports {module!r}, which does not exist and is not a module this change creates"
    return ""


def uncreated(example: Example, request: str) -> str:
    """Why a scenario's test is broken when it calls a method on an object it never makes ('' if it does not).

    ``buffer.push(1.0)`` with no ``setup`` imports ``buffer`` from the module under test; that fails for any
    implementation of a class the request asks for (seen in a real run, where the request itself wrote
    `len(buffer)`), so it is not a red test but a broken one. A lowercase name that is not a callable the
    request names is taken for such an instance, unless the request asks for a module-level object of that
    name. Call it only for a test that failed on an import."""
    try:
        tree = parse_python(example.call, mode="eval")
    except (SyntaxError, ValueError):
        return ""
    free = set(example.names())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = node.value.id
            module_level = rf"(?:module[- ]level|global)\W+(?:\w+\W+)?{re.escape(name)}\b|\b{re.escape(name)}\s*="
            if (
                name in free
                and name[:1].islower()
                and not re.search(rf"\b{re.escape(name)}\s*\(", request)  # a function the request names
                and not re.search(module_level, request)
            ):
                return f"it uses `{name}` without creating it: create it first, before the call (`{name} = ...`)"
    return ""
