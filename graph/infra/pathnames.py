"""Which strings can name a file in a repository: the checks on a path's spelling, before it touches the disk.

A model that writes ``~/x``, ``$HOME/x``, ``%USERPROFILE%\\x`` or ``..\\x`` expects a shell or Windows to
interpret it; nothing does, so on Linux each would become an oddly named file or folder inside the repository.
NUL and control characters and over-long names would fail later with an OS error instead of a clear reason.
"""

from __future__ import annotations

import re

MAX_NAME_BYTES = 255  # one path component (NAME_MAX on Linux, macOS and Windows)
MAX_PATH_BYTES = 4096  # a whole path (PATH_MAX on Linux)
_SHELL_NAME = re.compile(r"^~|^\$\w|\$\{[^}]*\}|%\w[\w()]*%")
_DRIVE = re.compile(r"^[A-Za-z]:")


def is_drive_path(rel: str) -> bool:
    """``C:/x`` or ``c:x``: a Windows drive, absolute for the model that wrote it."""
    return bool(_DRIVE.match(rel))


def shown(rel: str) -> str:
    """A path as it appears in a message: quoted, and cut short when a model sent kilobytes of it."""
    return repr(rel) if len(rel) <= 120 else f"{rel[:100]!r}… ({len(rel):,} characters)"


def path_name_problem(rel: str) -> str | None:
    """Names that are never a repository file: refused here rather than created literally (a folder named
    ``~`` or ``$HOME``, a file named ``..\\x``) or failing later with an OS error."""
    if not rel or rel.strip() in (".", ""):
        return f"refused {rel!r}: empty path; name a file inside the repository"
    if "\x00" in rel:
        return f"refused {shown(rel)}: it contains a NUL byte, which no file name can hold"
    if control := next((c for c in rel if ord(c) < 32 or ord(c) == 127), None):
        return f"refused {shown(rel)}: it contains the control character {control!r}"
    if "\\" in rel:
        return (
            f"refused {shown(rel)}: a backslash is not a path separator here and would become part of the "
            "file name; write the path with '/'"
        )
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:
        return f"refused {shown(rel)}: the path is not valid UTF-8 text"
    if size > MAX_PATH_BYTES:
        return f"refused {shown(rel)}: the path is {size:,} bytes long; at most {MAX_PATH_BYTES:,}"
    for part in rel.split("/"):
        if (length := len(part.encode("utf-8"))) > MAX_NAME_BYTES:
            return (
                f"refused {shown(rel)}: the name {shown(part)} is {length:,} bytes long; "
                f"at most {MAX_NAME_BYTES} per file or folder name"
            )
        if _SHELL_NAME.search(part):
            return (
                f"refused {shown(rel)}: {part!r} is shell syntax (~, $VAR, %VAR%) that nothing expands here, "
                f"so it would create a file or folder literally named {part!r} in the repository; "
                "use a path relative to the repository root"
            )
    return None
