"""``ast.parse`` behind one lock.

CPython 3.11's AST constructor keeps its recursion-depth bookkeeping in per-interpreter state, so two threads
parsing at once can fail with ``SystemError: AST constructor recursion depth mismatch``. Candidates are merged
and checked in worker threads side by side (cloud configs run them concurrently), so every parse in the
harness goes through here.
"""

from __future__ import annotations

import ast
import functools
import threading
from typing import Any

PARSING = threading.RLock()  # also held around library calls that parse (pyflakes)


def parse_python(source: str | bytes, *args: Any, **kwargs: Any) -> ast.Module:
    with PARSING:
        return ast.parse(source, *args, **kwargs)


@functools.lru_cache(maxsize=256)
def parsed_module(source: str) -> ast.Module | None:
    """A module's tree, parsed once per text however many readers index it (None: it does not parse).
    Shared between callers: read it, never change it."""
    try:
        return parse_python(source)
    except (SyntaxError, ValueError):
        return None
