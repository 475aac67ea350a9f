"""Edits as code blocks: a model writes the definitions it adds or changes, code merges them into the file.

Small models are bad at edit formats (search text that does not match, JSON-escaped source, whole files with
the old code pasted inside a new function) and good at writing a function in a fenced block. So a reply is
read as ``### path`` + a fenced block per file, and a Python block is merged by name: an import is added
once, a top-level function, class or assignment replaces the one of the same name (a class keeps methods the
block leaves out; a body of just ``...`` keeps the old body), anything new is added. The whole module is
never retyped, nothing the block does not name is touched, and a result that does not parse is refused.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass, field

from sdd_harness.graph.infra.pyparse import parse_python

_HEADER = re.compile(
    r"^(?:#{1,4}\s*(?:\*\*)?|\*\*)?(?:(?:[Ff]ile|[Pp]ath):\s*)?(?<=[#*:]|\s)`?([\w./-]+\.\w+)`?\**(?:\s*\([^)]*\))?\s*:?\s*$"
)  # a note in brackets after the path, as the prompt's own headers have, is allowed
_FENCE = re.compile(r"^```[\w+-]*\s*$")


@dataclass
class FileBlock:
    path: str
    code: str
    cut: bool = False  # its fence never closed: the reply stopped inside it (the output limit)


@dataclass
class MergeResult:
    text: str
    problems: list[str] = field(default_factory=list)


def read_blocks(
    reply: str, allowed: list[str], sources: dict[str, str | None] | None = None
) -> tuple[list[FileBlock], list[str]]:
    """(blocks, problems) from a reply: each fenced block belongs to the path named just above it (or in its
    first comment line); an unnamed block belongs to the one allowed file it can only mean (see ``_owner``)."""
    lines = reply.replace("\r\n", "\n").split("\n")
    blocks: list[FileBlock] = []
    problems: list[str] = []
    pending: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        header = _HEADER.match(line)
        if header:
            pending = header.group(1).removeprefix("./")
        elif _FENCE.match(line):
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            shown = [b.strip() for b in body if b.strip()]
            wrapped = len(shown) == 1 and _HEADER.match(shown[0])
            if wrapped and i < len(lines) and _FENCE.match(lines[i].strip()) and lines[i].strip() != "```":
                pending = wrapped.group(1).removeprefix("./")  # a header fenced on its own, the code's fence next
                continue
            sections = _sections(body)
            for index, (named, part) in enumerate(sections):
                code = "\n".join(part).strip("\n")
                path = (pending if index == 0 else None) or named or _owner(code, allowed, sources or {})
                cut = i >= len(lines) and index == len(sections) - 1
                if path is None:
                    problems.append("a code block does not say which file it is for (write `### path` above it)")
                elif code.strip():
                    blocks.append(FileBlock(_meant(path, allowed), code + "\n", cut=cut))
            pending = None
        i += 1
    if not blocks and not problems:
        problems.append("the reply has no fenced code block")
    return blocks, problems


_PATH_COMMENT = re.compile(r"^#\s*(?:file:\s*)?([\w./-]+\.\w+)\s*$")


def complete_part(code: str) -> str:
    """What a block cut at the output limit got to that is whole: every statement before the one it was
    writing — at the top level or, inside a class, method by method — or '' when none is whole.

    The statement being written is dropped even when it happens to parse: a function cut after a complete line
    is valid Python that returns the wrong thing. Without this, one cut function lost the whole file, and a
    package whose ``__init__`` imports that file could not even be imported."""
    lines = code.rstrip("\n").split("\n")
    for cut in reversed([i for i, line in enumerate(lines) if i and _starts_statement(line)]):
        whole = "\n".join(lines[:cut]).rstrip()
        try:
            parse_python(whole)
        except (SyntaxError, ValueError):
            continue
        if whole.strip():
            return whole + "\n"
    return ""


def _starts_statement(line: str) -> bool:
    """A line where a top-level statement or a class's method (4-space indent) begins."""
    if not line.strip() or line.lstrip().startswith("#"):
        return False
    if not line[0].isspace():
        return not line.startswith((")", "]", "}"))
    return line.startswith("    ") and not line[4].isspace() and line[4:].startswith(("def ", "async def ", "@"))


def _sections(body: list[str]) -> list[tuple[str | None, list[str]]]:
    """A block cut at each ``# path.py`` comment line at column 0: small models put two files in one block
    that way (a real run merged a second file's code into the first)."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in body:
        named = _PATH_COMMENT.match(line)
        if named and any(s.strip() for s in sections[-1][1]):  # code came first: another file starts here
            sections.append((named.group(1), []))
        elif named:  # the block's first line names its file
            sections[-1] = (named.group(1), sections[-1][1])
        sections[-1][1].append(line)
    return sections


def _owner(code: str, allowed: list[str], sources: dict[str, str | None]) -> str | None:
    """The allowed file an unnamed block can only be for: the only one; else, among the test files (a block
    defining ``test_*`` functions) or the others, the only one; the only one already defining a name the block
    redefines; for new definitions, the only file not written yet, else the only one that is not a package
    ``__init__.py`` (that one is there for a re-export); for a block of imports and assignments
    only (a re-export), the only package ``__init__.py``. Small models often drop the ``### path`` line when a
    change adds a module and re-exports it (seen in real runs), which lost the whole candidate."""
    if len(allowed) == 1:
        return allowed[0]
    names = set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", code, flags=re.MULTILINE))
    testing = any(n.startswith(("test_", "Test")) for n in names)
    side = [a for a in allowed if _is_test_file(a) == testing]
    if len(side) == 1:
        return side[0]
    redefined = [
        a for a in side if names & set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", sources.get(a) or "", re.M))
    ]
    if redefined:
        return redefined[0] if len(redefined) == 1 else None
    unwritten = [a for a in side if a in sources and sources[a] is None]
    inits = [a for a in side if a.rsplit("/", 1)[-1] == "__init__.py"]
    if names:  # new definitions: the one file not written yet, else the one module beside a package face
        modules = [a for a in side if a not in inits]
        return unwritten[0] if len(unwritten) == 1 else modules[0] if len(modules) == 1 and not unwritten else None
    exports = re.search(r"^(?:from\s+\S+\s+import\s|import\s|__all__\b)", code, flags=re.MULTILINE)
    return inits[0] if len(inits) == 1 and exports else None


def _is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def _meant(path: str, allowed: list[str]) -> str:
    """The allowed file a path plainly means (``cart.py`` for ``shop/cart.py``); else the path as written."""
    if path in allowed:
        return path
    same = [a for a in allowed if a.endswith(f"/{path}") or a.rsplit("/", 1)[-1] == path.rsplit("/", 1)[-1]]
    return same[0] if len(same) == 1 else path


def _segments(tree: ast.Module, lines: list[str]) -> list[tuple[ast.stmt, int, int]]:
    """(node, first line index, end line index) of each top-level statement, decorators included."""
    out = []
    for node in tree.body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        out.append((node, start, node.end_lineno or node.lineno))
    return out


def _name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _elided(node: ast.stmt) -> bool:
    """A body that only stands for the existing one: ``...``, ``pass`` or a bare docstring."""
    body = getattr(node, "body", None)
    if not body or len(body) > 2:
        return False
    rest = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    only = body[0] if len(body) == 1 else None
    return all(isinstance(s, ast.Pass) for s in rest) or (
        isinstance(only, ast.Expr) and isinstance(only.value, ast.Constant) and only.value.value is Ellipsis
    )


def _source(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start:end])


def merge_python(current: str | None, block: str) -> MergeResult:
    """``current`` with the block's definitions merged in (a new file: the block itself)."""
    try:
        new_tree = parse_python(block)
    except SyntaxError as err:
        return MergeResult(current or "", [f"the code does not parse: line {err.lineno}: {err.msg}"])
    if current is None or not current.strip():
        return MergeResult(block if block.endswith("\n") else block + "\n")
    try:
        old_tree = parse_python(current)
    except SyntaxError:
        return MergeResult(block, ["the existing file does not parse; it was replaced by the block"])
    old_lines, new_lines = current.split("\n"), block.split("\n")
    old = _segments(old_tree, old_lines)
    by_name = {_name(n): (n, s, e) for n, s, e in old if _name(n)}
    have_imports = {ast.unparse(n) for n, _, _ in old if isinstance(n, ast.Import | ast.ImportFrom)}
    replacements: dict[int, tuple[int, str]] = {}
    imports: list[str] = []
    appended: list[str] = []
    for node, start, end in _segments(new_tree, new_lines):
        text = _source(new_lines, start, end)
        name = _name(node)
        if isinstance(node, ast.Import | ast.ImportFrom):
            if ast.unparse(node) not in have_imports:
                imports.append(text)
                have_imports.add(ast.unparse(node))
        elif name and name in by_name:
            old_node, o_start, o_end = by_name[name]
            if _elided(node) and not isinstance(node, ast.ClassDef):
                continue
            if isinstance(node, ast.ClassDef) and isinstance(old_node, ast.ClassDef):
                text = _merge_class(old_node, node, old_lines, text)
            replacements[o_start] = (o_end, text)
        elif name or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            appended.append(text)
    out: list[str] = []
    i = 0
    while i < len(old_lines):
        if i in replacements:
            end, text = replacements[i]
            out.extend(text.split("\n"))
            i = end
        else:
            out.append(old_lines[i])
            i += 1
    result = "\n".join(out).rstrip("\n")
    if imports:
        result = _with_imports(result, imports)
    if appended:
        result += "\n\n\n" + "\n\n\n".join(appended)
    result += "\n"
    try:
        parse_python(result)
    except SyntaxError as err:
        return MergeResult(current, [f"the merged file does not parse: line {err.lineno}: {err.msg}"])
    return MergeResult(result)


def _merge_class(old: ast.ClassDef, new: ast.ClassDef, old_lines: list[str], new_text: str) -> str:
    """The old class with the block's methods and class attributes merged in by name (the same rules as for
    a module, one level down), under the block's class line (its bases may change)."""
    new_lines = new_text.split("\n")
    first_new = new.body[0]
    new_start = min([new.lineno, *(d.lineno for d in new.decorator_list)])  # ``new_text`` starts at a decorator
    header_end = min([first_new.lineno, *(d.lineno for d in getattr(first_new, "decorator_list", []))]) - new_start
    first_old = old.body[0]
    old_start = min([first_old.lineno, *(d.lineno for d in getattr(first_old, "decorator_list", []))]) - 1
    old_body = textwrap.dedent("\n".join(old_lines[old_start : old.end_lineno]))
    new_body = textwrap.dedent("\n".join(new_lines[header_end:]))
    merged = merge_python(old_body, new_body)
    if merged.problems:
        return new_text
    body = re.sub(r"\n{3,}", "\n\n", merged.text.rstrip("\n"))  # one blank line between methods
    return "\n".join([*new_lines[:header_end], textwrap.indent(body, "    ")])


def _with_imports(text: str, imports: list[str]) -> str:
    """Imports added after the module's last top-level import (or after its docstring)."""
    tree = parse_python(text)
    lines = text.split("\n")
    at = 0
    for node in tree.body:
        if (
            isinstance(node, ast.Import | ast.ImportFrom)
            or at == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
        ):
            at = node.end_lineno or node.lineno
    if any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body) or at:
        return "\n".join([*lines[:at], *imports, *lines[at:]])
    return "\n".join([*imports, "", *lines])


def diff_size(before: str | None, after: str) -> int:
    """Changed lines (added + removed): the tie-break that prefers the smaller edit."""
    diff = difflib.unified_diff((before or "").splitlines(), after.splitlines(), lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


_PROMPT_CODE = re.compile(r"```python\n(.*?)```", re.S)


def without_echo(reply: str, prompt: str) -> str:
    """``reply`` minus the definitions it copied word for word from the code examples in ``prompt``.

    A small model often answers with the prompt's format example pasted above its own code (seen in real apply
    runs); merged, that example would land in the user's file. An import the example brought along goes too,
    unless the rest of the reply uses it.
    """
    for example in _PROMPT_CODE.findall(prompt):
        try:
            tree = parse_python(example)
        except SyntaxError:
            continue
        lines = example.splitlines()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                reply = reply.replace(_source(lines, node.lineno - 1, node.end_lineno or node.lineno).rstrip(), "")
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                line = lines[node.lineno - 1]
                names = [alias.asname or alias.name.split(".")[0] for alias in node.names]
                rest = reply.replace(line, "")
                if line in reply and not any(re.search(rf"\b{re.escape(n)}\b", rest) for n in names):
                    reply = rest
    return reply
