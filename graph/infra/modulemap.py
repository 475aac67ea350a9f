"""Where a scenario's names come from, and where the change's tests go.

The repository says which module defines what today; the request says, line by line, which module it puts
each new name in. ``ModuleMap.place`` turns that into the import lines of a scenario's test: the module under
test, and for a helper that already lives elsewhere (``line_total`` from a pricing module), that module.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.contract import BEGIN, Example
from sdd_harness.graph.infra.pyparse import parse_python, parsed_module
from sdd_harness.graph.infra.returntypes import declared_returns


def python_modules(root: Path, files: Iterable[str]) -> set[str]:
    """Dotted module names of repository-relative ``.py`` paths (``pkg/__init__.py`` is ``pkg``)."""
    out = set()
    for rel in files:
        if rel.endswith(".py"):
            parts = Path(rel).with_suffix("").parts
            out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return {m for m in out if m}


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
    tree = parsed_module(source)
    if tree is None:
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


def class_members(source: str) -> dict[str, set[str]]:
    """Each top-level class whose bases are builtins (all it has is its own): the names its body defines."""
    tree = parsed_module(source)
    if tree is None:
        return {}
    out: dict[str, set[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.keywords:
            continue
        if all(isinstance(b, ast.Name) and b.id in ("object", "Exception") for b in node.bases):
            out[node.name] = {name for stmt in node.body for name in _bound_by(stmt)}
    return out


def makeable_classes(source: str) -> dict[str, set[str]]:
    """Each top-level class made with no arguments (no bases; no ``__init__`` or one whose parameters all have
    defaults; a dataclass whose fields all have defaults): its instance methods."""
    tree = parsed_module(source)
    if tree is None:
        return {}
    out: dict[str, set[str]] = {}
    for node in tree.body:
        if (
            not isinstance(node, ast.ClassDef)
            or node.keywords
            or any(not (isinstance(b, ast.Name) and b.id == "object") for b in node.bases)
        ):
            continue
        functions = [f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
        init = next((f.args for f in functions if f.name == "__init__"), None)
        if init and (len(init.posonlyargs) + len(init.args) - 1 > len(init.defaults) or None in init.kw_defaults):
            continue
        decorators = {ast.unparse(d).split("(")[0].rsplit(".", 1)[-1] for d in node.decorator_list}
        fields = [f for f in node.body if isinstance(f, ast.AnnAssign) and "ClassVar" not in ast.unparse(f.annotation)]
        if "dataclass" in decorators and any(f.value is None for f in fields):
            continue
        out[node.name] = {
            f.name
            for f in functions
            if f.args.args
            and f.args.args[0].arg == "self"
            and not {ast.unparse(d) for d in f.decorator_list} & {"staticmethod", "classmethod", "property"}
        }
    return out


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _bound_by(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return {stmt.target.id}
    return set()


class ModuleMap(BaseModel):
    """What the repository and the request say about where names live."""

    existing: dict[str, set[str]] = Field(default_factory=dict, description="module -> names it defines today")
    planned: list[str] = Field(default_factory=list, description="modules the request names that do not exist yet")
    named_in: dict[str, str] = Field(default_factory=dict, description="name -> the module the request puts it in")
    packages: set[str] = Field(default_factory=set, description="existing packages (folders with __init__.py)")
    imported: dict[str, set[str]] = Field(default_factory=dict, description="module -> names it only imports")
    members: dict[str, set[str]] = Field(
        default_factory=dict, description="existing class -> its methods and class attributes (own bases only)"
    )
    returns: dict[str, str] = Field(
        default_factory=dict, description="function or method -> its return annotation in the code (one per name)"
    )
    plain: set[str] = Field(
        default_factory=set, description="classes that never equal a plain value (no base, no __eq__)"
    )
    makeable: dict[str, set[str]] = Field(
        default_factory=dict,
        description="class made with no arguments (the code's, or `Name()` in the request) -> its methods",
    )

    def known(self, module: str) -> bool:
        """A module that exists, that the request names, or a new module inside an existing package."""
        parent = module.rsplit(".", 1)[0] if "." in module else ""
        return module in self.existing or module in self.planned or module in self.packages or parent in self.packages

    def instantiated(self, example: Example) -> Example:
        """``example`` with the object it uses but never makes made first (``book.add(1)``: setup ``book =
        GradeBook()``), and a method called on its class (``GradeBook.add(1)``) called on a new instance instead —
        for a class made with no arguments, and a name that can mean that class alone. A small model writes both
        (seen in real runs); as written, either test fails for every candidate."""
        defined = set().union(*self.existing.values()) if self.existing else set()
        free = [n for n in example.names() if n[:1].islower() and n not in defined and n not in sys.stdlib_module_names]
        made = []
        for name in free:
            if not re.search(
                rf"\b{re.escape(name)}\.\w", " ".join([*example.setup, example.call, example.expect or ""])
            ):
                continue
            classes = [c for c in self.makeable if name in (_snake(c), c.lower()) or _snake(c).endswith(f"_{name}")]
            if len(classes) == 1:
                made.append(f"{name} = {classes[0]}()")
        mended = {
            key: _on_instances(code, self.makeable)
            for key, code in (("call", example.call), ("expect", example.expect))
        }
        setup = [*made, *(_on_instances(line, self.makeable) for line in example.setup)]
        if not made and setup == example.setup and mended == {"call": example.call, "expect": example.expect}:
            return example
        return example.model_copy(update={"setup": setup, **mended})

    def place(self, example: Example, reexported: dict[str, set[str]]) -> Example:
        """The example with its imports decided: the module under test (``resolve``), and, for a name that module
        does not define and the request does not put there, the one existing module that defines it."""
        example = self.instantiated(example)
        module = self.resolve(example, reexported)
        there = self.existing.get(module or "", set()) | reexported.get(module or "", set())
        imports = {}
        for name in (n for n in example.names() if n not in there):
            homes = [m for m, names in self.existing.items() if name in names - self.imported.get(m, set())]
            if len(homes) == 1 and homes[0] != module and self.named_in.get(name, homes[0]) == homes[0]:
                imports[name] = homes[0]
        if not imports:
            return example.model_copy(update={"module": module})
        placed = example.model_copy(update={"imports": imports})
        return placed.model_copy(update={"module": self.resolve(placed, reexported)})

    def resolve(self, example: Example, reexported: dict[str, set[str]]) -> str | None:
        """The module the example should import its names from (the user's words first, then the code)."""
        names = [n for n in example.names() if n[:1] != "_" and n not in example.imports]
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


def _on_instances(code: str | None, makeable: dict[str, set[str]]) -> str | None:
    """``code`` with ``Cls.method(args)`` — an instance method called on a class made with no arguments — as
    ``Cls().method(args)``; unchanged when nothing is (or when the first argument could be the instance)."""
    if not code or not any(f"{c}." in code for c in makeable):
        return code
    try:
        tree = parse_python(code)
    except SyntaxError:
        return code
    changed = False
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.attr in makeable.get(func.value.id, set())
            and not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id[:1].islower())
        ):
            func.value = ast.Call(func=func.value, args=[], keywords=[])
            changed = True
    return ast.unparse(tree) if changed else code


def module_map(
    root: Path, files: Iterable[str], request: str, request_paths: Iterable[str], names: Iterable[str]
) -> ModuleMap:
    """Index the repository's modules and read, line by line, which module the request puts each name in."""
    existing: dict[str, set[str]] = {}
    imported: dict[str, set[str]] = {}
    members: dict[str, set[str]] = {}
    makeable: dict[str, set[str]] = {}
    returns: dict[str, set[str]] = {}
    plain: set[str] = set()
    packages: set[str] = set()
    for rel in files:
        if not rel.endswith(".py") or is_test_path(rel):
            continue
        module = module_of_path(rel)
        if rel.endswith("__init__.py"):
            packages.add(module)
        try:
            source = (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        defined, imported[module] = _top_level_names(source)
        members.update(class_members(source))
        makeable.update(makeable_classes(source))
        declared, plain_here = declared_returns(source)
        plain |= plain_here
        for name, annotation in declared.items():
            returns.setdefault(name, set()).add(annotation)
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
    for cls in re.findall(r"\b([A-Z]\w*)\(\)", request):  # the request makes it with no arguments
        makeable.setdefault(cls, set())
    return ModuleMap(
        existing=existing,
        planned=planned,
        named_in=named_in,
        packages=packages,
        imported=imported,
        members=members,
        returns={name: kinds.pop() for name, kinds in returns.items() if len(kinds) == 1},
        plain=plain,
        makeable=makeable,
    )


def contract_path(root: Path, request_paths: Iterable[str], capability: str, change: str = "") -> str:
    """Where the change's scenario tests go: the test file the request names, else the file that already holds
    this ``change``'s contract (a spec retry rewrites its block rather than leaving it behind), else a new file
    in the tests folder named after the capability."""
    named = [p for p in request_paths if p.endswith(".py") and is_test_path(p) and not p.endswith("conftest.py")]
    if named:
        return named[0]
    folder = "test" if (root / "test").is_dir() and not (root / "tests").is_dir() else "tests"
    marker = re.compile(rf"^{re.escape(BEGIN.format(change=change))}[ \t]*$", re.MULTILINE)
    for held in sorted((root / folder).glob("test_*.py")) if change and (root / folder).is_dir() else []:
        if marker.search(held.read_text(encoding="utf-8", errors="replace")):
            return f"{folder}/{held.name}"
    stem = re.sub(r"[^a-z0-9]+", "_", capability.lower()).strip("_") or "change"
    for candidate in (f"{folder}/test_{stem}.py", f"{folder}/test_{stem}_contract.py"):
        if not (root / candidate).exists():
            return candidate
    return f"{folder}/test_{stem}_contract.py"
