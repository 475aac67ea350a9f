"""The parent side of the embedded provider: one llama.cpp server child per model, started on demand.

`EmbeddedServers` starts one OpenAI-compatible llama.cpp server (xllamacpp) per model, each in its own child
process (`python -m sdd_harness.graph.infra.embedded serve ...`) bound to 127.0.0.1 on a free port, and returns its
`/v1` base URL. The served model alias is the catalogue name, so the server reports the model that was asked
for. Each model runs with its `ModelServerOptions` (slots, prompt cache, speculative decoding); a draft model's
weights are joined and verified like the served model's. Children are stopped by `stop_all()`, by the context
manager, at exit, on SIGTERM, and they exit on their own when the parent dies (their stdin pipe closes; they also
watch their parent pid).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sdd_harness.graph.infra.embedded.options import LaunchSpec, ModelServerOptions, ServerSettings, serve_command
from sdd_harness.graph.infra.embedded.weights import (
    LOCAL_EXTRA_HINT,
    XLLAMACPP_REQUIREMENT,
    EmbeddedModelError,
    default_cache_dir,
    ensure_gguf,
    get_model,
)

ChildCommand = Callable[[LaunchSpec], list[str]]
ResolveModel = Callable[[str], Path]


@dataclass
class ServerInfo:
    name: str
    base_url: str
    port: int
    pid: int
    log_path: Path
    load_seconds: float
    proc: subprocess.Popen = field(repr=False)
    log_offset: int = field(default=0, repr=False)
    options: ModelServerOptions = field(default_factory=ModelServerOptions)


def require_xllamacpp() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise EmbeddedModelError(
            f"the embedded provider needs the llama.cpp bindings: pip install {XLLAMACPP_REQUIREMENT}  "
            f"(or everything for local models: {LOCAL_EXTRA_HINT})"
        )


def tail_lines(path: Path, n: int = 15, offset: int = 0) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            start = max(offset, end - 64 * 1024)
            f.seek(start)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    lines = [ln for ln in data.splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) if lines else "(log is empty)"


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (Linux /proc), or None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


_all_managers: weakref.WeakSet[EmbeddedServers] = weakref.WeakSet()
_signal_installed = False


@atexit.register
def _stop_all_managers() -> None:
    for mgr in list(_all_managers):
        with contextlib.suppress(Exception):
            mgr.stop_all()


def _on_sigterm(signum, frame):  # pragma: no cover - exercised by the integration test via a subprocess
    for mgr in list(_all_managers):
        mgr._kill_now()
    prev = _previous_sigterm
    if callable(prev):
        prev(signum, frame)
    else:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


_previous_sigterm: object = None


def install_sigterm_handler() -> None:
    """Kill children on SIGTERM too (atexit does not run then); chains to any earlier handler. Called on the
    first server start on the main thread; without it children still exit when our process dies."""
    global _signal_installed, _previous_sigterm
    if _signal_installed or threading.current_thread() is not threading.main_thread():
        return
    prev = signal.getsignal(signal.SIGTERM)
    if prev is signal.SIG_IGN:
        return
    _previous_sigterm = prev if callable(prev) else None
    signal.signal(signal.SIGTERM, _on_sigterm)
    _signal_installed = True


class EmbeddedServers:
    """Starts and tracks one llama.cpp server child per embedded model. Thread-safe.

    Use `get_servers()` for the per-process instance. `base_url(name, options)` starts the server on first use.
    A server that dies is not restarted silently: `base_url`/`check_alive` raise until `stop(name)`. A running
    server is never restarted with other options behind the back of whoever uses it: asking for different ones
    raises until `stop(name)`.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        cache_dir: Path | None = None,
        *,
        resolve_model: ResolveModel | None = None,
        child_command: ChildCommand | None = None,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._resolve = resolve_model
        self._command = child_command
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self._servers: dict[str, ServerInfo] = {}
        self._warming: dict[str, threading.Thread] = {}
        _all_managers.add(self)

    # ---- public API -------------------------------------------------------------------------------

    def base_url(self, name: str, options: ModelServerOptions | None = None) -> str:
        """`http://127.0.0.1:PORT/v1` of the server for `name`, starting it on first use.

        `options` None takes a running server as it is, or starts one with the default options.
        """
        return self.ensure_started(name, options).base_url

    def ensure_started(self, name: str, options: ModelServerOptions | None = None) -> ServerInfo:
        with self._lock:
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        with name_lock:
            with self._lock:
                info = self._servers.get(name)
            if info is not None:
                self._raise_if_dead(info)
                if options is not None and options != info.options:
                    raise EmbeddedModelError(
                        f"the embedded server for {name} already runs with other options "
                        f"({info.options.model_dump(exclude_defaults=True)}, asked for "
                        f"{options.model_dump(exclude_defaults=True)}); stop it first"
                    )
                return info
            info = self._start(name, options or ModelServerOptions())
            with self._lock:
                self._servers[name] = info
            return info

    def warm(self, wanted: Mapping[str, ModelServerOptions | None]) -> None:
        """Start the servers in ``wanted`` not running yet, in the background (a run's next model loads while
        the first answers); ``ensure_started`` waits for one under way, and retries and raises a failed one."""
        for name, options in wanted.items():
            with self._lock:
                if name in self._servers or name in self._warming:
                    continue
                thread = threading.Thread(target=self._warm_one, args=(name, options), daemon=True)
                self._warming[name] = thread
            thread.start()

    def _warm_one(self, name: str, options: ModelServerOptions | None) -> None:
        with contextlib.suppress(Exception):  # raised again where the model is asked for
            self.ensure_started(name, options)

    def check_alive(self, name: str) -> None:
        """Raise EmbeddedModelError if the server for `name` was started and has exited since."""
        with self._lock:
            info = self._servers.get(name)
        if info is None:
            raise EmbeddedModelError(f"no embedded server was started for {name}")
        self._raise_if_dead(info)

    def info(self, name: str) -> ServerInfo | None:
        with self._lock:
            return self._servers.get(name)

    def running(self) -> dict[str, str]:
        with self._lock:
            return {n: i.base_url for n, i in self._servers.items() if i.proc.poll() is None}

    def pids(self) -> list[int]:
        with self._lock:
            return [i.pid for i in self._servers.values()]

    def stop(self, name: str) -> None:
        with self._lock:
            info = self._servers.pop(name, None)
        if info is not None:
            self._terminate(info)

    def stop_all(self) -> None:
        with self._lock:
            warming = list(self._warming.values())
            self._warming.clear()
        for thread in warming:  # a server still loading is recorded first, then stopped with the rest
            thread.join(self.settings.start_timeout)
        with self._lock:
            infos = list(self._servers.values())
            self._servers.clear()
        threads = [threading.Thread(target=self._terminate, args=(i,), daemon=True) for i in infos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def __enter__(self) -> EmbeddedServers:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    # ---- internals --------------------------------------------------------------------------------

    def _kill_now(self) -> None:
        """Signal-handler safe: no locks, no waiting."""
        for info in list(self._servers.values()):
            with contextlib.suppress(Exception):
                info.proc.kill()

    def _raise_if_dead(self, info: ServerInfo) -> None:
        code = info.proc.poll()
        if code is not None:
            raise EmbeddedModelError(
                f"embedded server for {info.name} exited with code {code}; last log lines: "
                f"{tail_lines(info.log_path, offset=info.log_offset)} (full log: {info.log_path})"
            )

    def _log_dir(self) -> Path:
        d = (self.cache_dir or default_cache_dir()) / "logs"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _start(self, name: str, options: ModelServerOptions) -> ServerInfo:
        s = self.settings
        if s.port and not _port_free(s.host, s.port):
            raise EmbeddedModelError(
                f"cannot start the embedded server for {name}: port {s.port} on {s.host} is already in use. "
                f"Use port 0 to pick a free port, or stop whatever is listening there."
            )
        draft = options.speculation.draft_model if options.speculation else None
        if self._command is None:
            get_model(name)
            try:
                options.check_for(name)
            except ValueError as e:
                raise EmbeddedModelError(f"cannot start the embedded server for {name}: {e}") from None
            require_xllamacpp()
        launch = LaunchSpec(
            alias=name,
            model_path=self._weights(name),
            settings=s,
            options=options,
            draft_path=self._weights(draft) if draft else None,
        )
        cmd = (self._command or serve_command)(launch)
        log_path = self._log_dir() / f"{name}.log"
        log = log_path.open("ab")
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        offset = log.tell()
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children ourselves
            )
        except OSError as e:
            raise EmbeddedModelError(f"cannot start the embedded server for {name}: {e}") from e
        finally:
            log.close()
        install_sigterm_handler()
        info = ServerInfo(
            name=name,
            base_url="",
            port=0,
            pid=proc.pid,
            log_path=log_path,
            load_seconds=0.0,
            proc=proc,
            log_offset=offset,
            options=options,
        )
        try:
            msg = self._read_hello(info, t0 + s.start_timeout)
            host, port = msg["host"], int(msg["port"])
            info.port = port
            info.base_url = f"http://{host}:{port}/v1"
            self._wait_ready(info, t0 + s.start_timeout)
        except BaseException:
            self._terminate(info)
            raise
        info.load_seconds = time.monotonic() - t0
        return info

    def _weights(self, name: str) -> Path:
        return self._resolve(name) if self._resolve else ensure_gguf(name, self.cache_dir)

    def _fail(self, info: ServerInfo, what: str) -> EmbeddedModelError:
        code = info.proc.poll()
        state = f"exited with code {code}" if code is not None else "is still running and was stopped"
        return EmbeddedModelError(
            f"embedded server for {info.name} failed to start ({what}); the server {state}. "
            f"Last log lines: {tail_lines(info.log_path, offset=info.log_offset)} (full log: {info.log_path})"
        )

    def _read_hello(self, info: ServerInfo, deadline: float) -> dict:
        """Wait for the child's JSON line {"event": "listening", "host": ..., "port": ...}."""
        assert info.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(info.proc.stdout, selectors.EVENT_READ)
        buf = b""
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._fail(info, f"no listening address after {self.settings.start_timeout:.0f} s")
                if not sel.select(timeout=min(remaining, 0.5)):
                    if info.proc.poll() is not None:
                        raise self._fail(info, "the server process ended during start-up")
                    continue
                chunk = os.read(info.proc.stdout.fileno(), 65536)
                if not chunk:
                    info.proc.wait(timeout=5)
                    raise self._fail(info, "the server process ended during start-up")
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if msg.get("event") == "listening":
                        return msg
                    if msg.get("event") == "error":
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            info.proc.wait(timeout=5)
                        raise self._fail(info, str(msg.get("message")))
        finally:
            sel.close()

    def _wait_ready(self, info: ServerInfo, deadline: float) -> None:
        url = info.base_url + "/models"
        last = ""
        while time.monotonic() < deadline:
            if info.proc.poll() is not None:
                raise self._fail(info, "the server process ended while loading")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    ids = [m.get("id") for m in json.load(r).get("data", [])]
                if info.name in ids:
                    return
                raise self._fail(info, f"the server reports models {ids}, expected {info.name!r}")
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = str(e)
            time.sleep(0.1)
        raise self._fail(info, f"{url} not ready after {self.settings.start_timeout:.0f} s ({last})")

    def _terminate(self, info: ServerInfo) -> None:
        proc = info.proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()  # the child stops its server and exits on EOF
            try:
                proc.wait(timeout=self.settings.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(Exception):
                if f:
                    f.close()


_servers: EmbeddedServers | None = None
_servers_guard = threading.Lock()


def get_servers() -> EmbeddedServers:
    """The per-process server manager."""
    global _servers
    with _servers_guard:
        if _servers is None:
            _servers = EmbeddedServers()
        return _servers


def embedded_base_url(name: str, options: ModelServerOptions | None = None) -> str:
    """Base URL of the per-process server for embedded model `name` (started on first use)."""
    return get_servers().base_url(name, options)


# --------------------------------------------------------------------------------------------------
# Child side: `python -m sdd_harness.graph.infra.embedded serve ...`
