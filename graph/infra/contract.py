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
from collections.abc import Iterable
from pathlib import Path

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

    def key(self) -> str:
        """The call, normalised, so the same call written two ways compares equal."""
        return _normal(self.call)


def strip_code(text: str) -> str:
    """A snippet without the backticks, fences or trailing semicolons small models wrap code in."""
    text = re.sub(r"^```\w*\s*|\s*```$", "", text.strip())
    return text.strip().strip("`").strip().rstrip(";").strip()


def _normal(expression: str) -> str:
    try:
        return ast.unparse(parse_python(expression, mode="eval"))
    except (SyntaxError, ValueError):
        return expression.strip()


def same_value(a: str, b: str) -> bool:
    """Two expected-value expressions that mean the same literal (``1.0`` and ``1.00``; quotes either way)."""
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _normal(a) == _normal(b)


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
    names = example.names()
    if names and example.module:
        lines.append(f"    from {example.module} import {', '.join(names)}")
    lines += [f"    {line}" for line in example.setup]
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
                return f"it uses `{name}` without creating it: put the statement that creates it in `setup`"
    return ""


def python_modules(root: Path, files: Iterable[str]) -> set[str]:
    """Dotted module names of repository-relative ``.py`` paths (``pkg/__init__.py`` is ``pkg``)."""
    out = set()
    for rel in files:
        if rel.endswith(".py"):
            parts = Path(rel).with_suffix("").parts
            out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return {m for m in out if m}


# --------------------------------------------------------------------------------------------------
# Where a scenario's names come from, and where the tests go
# --------------------------------------------------------------------------------------------------


def module_of_path(rel: str) -> str:
    """``pkg/mod.py`` -> ``pkg.mod``; a package's ``__init__.py`` is the package; a ``src/`` layout's folder is
    not part of the import path."""
    parts = Path(rel).with_suffix("").parts
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_test_path(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" or "/tests/" in f"/{rel}"


def defined_names(source: str) -> set[str]:
    """Top-level functions, classes and assigned names of a module, and names it imports from others (empty
    on a syntax error)."""
    defined, imported = _top_level_names(source)
    return defined | imported


def own_names(source: str) -> set[str]:
    """Top-level functions, classes and assigned names a module defines itself (empty on a syntax error)."""
    return _top_level_names(source)[0]


def _top_level_names(source: str) -> tuple[set[str], set[str]]:
    """(names the module defines, names it imports with ``from … import``)."""
    try:
        tree = parse_python(source)
    except SyntaxError:
        return set(), set()
    names: set[str] = set()
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            imported |= {a.asname or a.name for a in node.names}
    return names, imported - names


class ModuleMap(BaseModel):
    """What the repository and the request say about where names live."""

    existing: dict[str, set[str]] = Field(default_factory=dict, description="module -> names it defines today")
    planned: list[str] = Field(default_factory=list, description="modules the request names that do not exist yet")
    named_in: dict[str, str] = Field(default_factory=dict, description="name -> the module the request puts it in")
    packages: set[str] = Field(default_factory=set, description="existing packages (folders with __init__.py)")
    imported: dict[str, set[str]] = Field(default_factory=dict, description="module -> names it only imports")

    def known(self, module: str) -> bool:
        """A module that exists, that the request names, or a new module inside an existing package."""
        parent = module.rsplit(".", 1)[0] if "." in module else ""
        return module in self.existing or module in self.planned or module in self.packages or parent in self.packages

    def resolve(self, example: Example, reexported: dict[str, set[str]]) -> str | None:
        """The module the example should import its names from (the user's words first, then the code)."""
        names = [n for n in example.names() if n[:1] != "_"]
        if not names:
            return example.module
        chosen = example.module
        if chosen and chosen in reexported and set(names) & reexported[chosen]:
            return chosen  # a scenario about the package's re-export imports from the package
        told = {self.named_in[n] for n in names if n in self.named_in}
        if len(told) == 1:
            return told.pop()
        homes = {m for m, defined in self.existing.items() if set(names) <= defined}
        if chosen in homes or (chosen and self.known(chosen) and not homes):
            return chosen
        if len(homes) == 1:
            return homes.pop()
        if homes:  # the names exist already (never send them to a new module): the one module defining them
            defining = {m for m in homes if not set(names) & self.imported.get(m, set())}
            return defining.pop() if len(defining) == 1 else None
        fresh = [m for m in self.planned if not m.endswith("__init__")]
        return fresh[0] if len(fresh) == 1 else chosen if chosen and self.known(chosen) else None


def module_map(
    root: Path, files: Iterable[str], request: str, request_paths: Iterable[str], names: Iterable[str]
) -> ModuleMap:
    """Index the repository's modules and read, line by line, which module the request puts each name in."""
    existing: dict[str, set[str]] = {}
    imported: dict[str, set[str]] = {}
    packages: set[str] = set()
    for rel in files:
        if not rel.endswith(".py") or is_test_path(rel):
            continue
        module = module_of_path(rel)
        if rel.endswith("__init__.py"):
            packages.add(module)
        try:
            defined, imported[module] = _top_level_names((root / rel).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        existing[module] = defined | imported[module]
    planned = [
        module_of_path(rel)
        for rel in request_paths
        if rel.endswith(".py") and not is_test_path(rel) and module_of_path(rel) not in existing
    ]
    named_in: dict[str, str] = {}
    wanted = list(names)
    for line in request.splitlines():
        paths = [
            p for p in re.findall(r"[\w./-]+\.py\b", line) if not is_test_path(p) and not p.endswith("__init__.py")
        ]
        if len(set(paths)) != 1:
            continue
        for name in wanted:
            if name not in named_in and re.search(rf"\b{re.escape(name)}\b", line):
                named_in[name] = module_of_path(paths[0].strip("./"))
    return ModuleMap(existing=existing, planned=planned, named_in=named_in, packages=packages, imported=imported)


def contract_path(root: Path, request_paths: Iterable[str], capability: str) -> str:
    """Where the change's scenario tests go: the test file the request names, else a new file in the tests
    folder named after the capability."""
    named = [p for p in request_paths if p.endswith(".py") and is_test_path(p) and not p.endswith("conftest.py")]
    if named:
        return named[0]
    folder = "test" if (root / "test").is_dir() and not (root / "tests").is_dir() else "tests"
    stem = re.sub(r"[^a-z0-9]+", "_", capability.lower()).strip("_") or "change"
    for candidate in (f"{folder}/test_{stem}.py", f"{folder}/test_{stem}_contract.py"):
        if not (root / candidate).exists():
            return candidate
    return f"{folder}/test_{stem}_contract.py"
