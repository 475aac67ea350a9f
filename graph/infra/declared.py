"""Exception classes the request declares, made in code: ``class E(ValueError)`` in the file it names.

"Raises a new exception `E`, defined in `pkg/mod.py` as a subclass of `ValueError`" says everything the class
is. Small models drop it (measured on held-out tasks: candidates raised ``ValueError`` or an undefined ``E``, so
every test importing ``E`` failed to collect), and then nothing that imports it can run. So a candidate that
writes the named file without the class gets it, before the code that raises it and before it is run; the
candidate is scored like any other, so a class the request did not really want costs only its own tests.
"""

from __future__ import annotations

import ast
import builtins
import re

from sdd_harness.graph.infra.modulemap import defined_names
from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.request_items import NewException

_UNFINISHED = re.compile(r"\s+(?:must|should|will|shall|always|also|then|it|they|both|each)$", re.I)


def with_new_exceptions(files: dict[str, str], wanted: list[NewException]) -> dict[str, str]:
    """``files`` (a candidate: path -> new text) with each wanted class added to its file, where the candidate
    writes that file, the file parses, nothing there defines or imports the name yet and the base class is a
    builtin exception or a name the file has."""
    out = dict(files)
    for new in wanted:
        text = out.get(new.path)
        if text is None:
            continue
        try:
            tree = parse_python(text)
        except SyntaxError:
            continue
        names = defined_names(text)
        if new.name in names or not (_builtin_exception(new.base) or new.base in names):
            continue
        out[new.path] = _with_class(text, tree, new)
    return out


def _builtin_exception(name: str) -> bool:
    found = getattr(builtins, name, None)
    return isinstance(found, type) and issubclass(found, BaseException)


def docstring(new: NewException) -> str:
    """What raises it, in the request's words ("Raised for malformed text."), or its kind when they are unclear."""
    words = new.raised_for.rstrip(" ,:;.")
    while _UNFINISHED.search(words):
        words = _UNFINISHED.sub("", words)
    if len(words.split()) >= 2 and '"""' not in words and "\\" not in words:
        return f"Raised for {words[0].lower()}{words[1:]}."
    return f"A ``{new.base}`` of this module."


def _with_class(text: str, tree: ast.Module, new: NewException) -> str:
    """The class put before the module's first top-level definition (at the end when it has none)."""
    block = f'class {new.name}({new.base}):\n    """{docstring(new)}"""\n'
    first = next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)), None)
    lines = text.splitlines(keepends=True)
    if first is None:
        return f"{text.rstrip()}\n\n\n{block}" if text.strip() else block
    at = min([first.lineno, *(d.lineno for d in first.decorator_list)]) - 1
    return "".join([*lines[:at], block, "\n\n", *lines[at:]])
