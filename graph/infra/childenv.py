"""The environment that model-written code and the repository's tests run in.

They get the user's environment minus what would let them spend or leak the user's credentials: provider keys
(``*_API_KEY`` and the config's own key variables), tokens, secrets, passwords, and user:password parts of URLs
(proxies, package indexes, database URLs). PATH, HOME, LANG, VIRTUAL_ENV and the like are kept, so the tests
still find their interpreter, locale and tools.
"""

from __future__ import annotations

import atexit
import glob
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

# A variable is a secret when its name ends in one of these (case-insensitive)...
SECRET_SUFFIXES = (
    "API_KEY",
    "APIKEY",
    "_KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIALS",
)
# ...or has one of these words between underscores (AWS_SECRET_ACCESS_KEY, GH_TOKEN_VALUE, DB_PASSWORD_FILE).
SECRET_WORDS = frozenset({"SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIALS"})
# A copy of a secret's value under another name is dropped too; shorter values are too common to compare.
MIN_COPIED_SECRET_CHARS = 8

# user:password@ (or token@) inside any URL: "https://user:pw@host/x" -> "https://host/x".
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")
# Proxy variables are also written without a scheme: "user:pw@proxy:3128".
_BARE_USERINFO = re.compile(r"^[^/?#\s]*@")


def is_secret_name(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """True for a variable that holds a credential by its name, or is one of ``extra`` (upper-case names)."""
    upper = name.upper()
    if upper in extra or upper == "KEY":
        return True
    return upper.endswith(SECRET_SUFFIXES) or not SECRET_WORDS.isdisjoint(upper.split("_"))


def without_url_credentials(name: str, value: str) -> str:
    """``value`` with the user:password part of every URL in it removed (host, port and path kept)."""
    stripped = _URL_USERINFO.sub(lambda m: m.group("scheme"), value)
    if name.upper().endswith("PROXY") and "://" not in stripped:
        stripped = _BARE_USERINFO.sub("", stripped)
    return stripped


def scrubbed_env(environ: Mapping[str, str], secret_names: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``environ`` safe to hand to code the user has not reviewed.

    ``secret_names`` adds variables that hold keys under names no pattern would guess (a provider's
    ``api_key_env``). A variable whose value equals a dropped secret's value is dropped as well, so a key
    copied into ``MY_SETTING`` does not slip through."""
    extra = frozenset(name.upper() for name in secret_names)
    secrets = {name for name in environ if is_secret_name(name, extra)}
    secret_values = {environ[name] for name in secrets if len(environ[name]) >= MIN_COPIED_SECRET_CHARS}
    return {
        name: without_url_credentials(name, value)
        for name, value in environ.items()
        if name not in secrets and value not in secret_values
    }


@lru_cache(maxsize=1)
def bytecode_dir() -> str:
    """One folder outside the repository for the bytecode of every command this process runs, removed at exit.

    Shared rather than one per command: pytest and the libraries it imports are compiled once per run, not on
    every check (a pytest run of a small repository took 2.7 s with a fresh folder each time and 0.9 s with this
    one). Throwaway copies have paths of their own, so their bytecode never stands in for another copy's."""
    folder = tempfile.mkdtemp(prefix="sdd-pycache-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


def forget_bytecode(source: Path) -> None:
    """Drop the shared folder's bytecode of a file just rewritten. Python checks a .pyc by the source's size and
    mtime in whole seconds, so a same-size edit within a second of the last check could otherwise run old code."""
    if not bytecode_dir.cache_info().currsize:
        return
    for path in {source.absolute(), source.resolve()}:
        folder = Path(bytecode_dir()) / path.parent.relative_to(path.anchor)
        for stale in folder.glob(f"{glob.escape(path.stem)}.*.pyc"):
            stale.unlink(missing_ok=True)
