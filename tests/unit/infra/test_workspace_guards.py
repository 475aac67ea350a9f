"""Hostile paths and hostile content: every one is refused with a WorkspaceError that names the path and the
reason, through every entry point (resolve, write, apply, check_edit, read), and the repository is left
byte-identical — no stray temp file, no folder literally named ``~`` or ``$HOME``, no half-applied batch."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from sdd_harness.graph.core.config import RunSettings
from sdd_harness.graph.infra import workspace as workspace_module
from sdd_harness.graph.infra.workspace import DEFAULT_MAX_FILE_BYTES, Edit, Workspace, WorkspaceError


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (folders map to None), hidden ones included."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        out[path.relative_to(root).as_posix()] = None if path.is_dir() else path.read_bytes()
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n", encoding="utf-8")
    (root / ".sdd").mkdir()
    (root / ".sdd" / "runs.json").write_text('{"runs": ["r1"]}\n', encoding="utf-8")
    return root


HOSTILE = [
    (".sdd/runs.json", "run state"),
    (".sdd/checkpoints.sqlite", "run state"),
    ("pkg/../.sdd/runs.json", "run state"),
    (".SDD/runs.json", "run state"),
    ("~/evil.py", "shell syntax"),
    ("~", "shell syntax"),
    ("~root/.bashrc", "shell syntax"),
    ("$HOME/evil.py", "shell syntax"),
    ("${HOME}/evil.py", "shell syntax"),
    ("pkg/${XDG_CONFIG_HOME}/evil.py", "shell syntax"),
    ("%USERPROFILE%/evil.py", "shell syntax"),
    ("..\\evil.py", "backslash"),
    ("a\\..\\..\\b", "backslash"),
    ("pkg\\..\\..\\evil.py", "backslash"),
    ("C:/Windows/evil.py", "absolute"),
    ("pkg/mod\x00.py", "NUL byte"),
    ("pkg/new\nline.py", "control character"),
    ("a" * 256 + ".py", "at most 255"),
    ("pkg/" + "é" * 128 + ".py", "at most 255"),  # 128 characters, 256 bytes
    ("/".join(["d" * 200] * 25) + "/x.py", "at most 4,096"),
    ("pkg", "existing folder"),
    ("pkg/", "existing folder"),
    ("pkg/mod.py/inner.py", "is a file"),
]


def _named(path: str, message: str) -> bool:
    return repr(path)[:60] in message


@pytest.mark.parametrize("path, why", HOSTILE)
def test_hostile_path_is_refused_by_apply_and_nothing_changes(repo: Path, path: str, why: str) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError) as err:
        ws.apply([Edit(op="replace_file", path="pkg/mod.py", content="x = 2\n"), Edit(op="create", path=path)])
    assert why in str(err.value) and _named(path, str(err.value)), str(err.value)
    assert snapshot(repo) == before  # the valid edit in the same batch was not applied either
    assert not (repo / "~").exists() and not (repo / "$HOME").exists()


@pytest.mark.parametrize("path, why", HOSTILE)
def test_hostile_path_is_refused_by_write_check_edit_and_read(repo: Path, path: str, why: str) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError, match=why) as err:
        ws.write(path, "overwritten\n")
    assert _named(path, str(err.value))
    problem = ws.check_edit(Edit(op="create", path=path, content="x\n"))
    assert problem and why in problem and _named(path, problem)
    with pytest.raises(WorkspaceError):
        ws.read(path)
    assert ws.exists(path) is False
    assert snapshot(repo) == before


def test_the_run_index_survives_a_task_that_targets_it(repo: Path) -> None:
    ws = Workspace(repo)
    with pytest.raises(WorkspaceError, match=r"\.sdd folder holds the harness's own run state"):
        ws.apply([Edit(op="replace_file", path=".sdd/runs.json", content="{}")])
    assert (repo / ".sdd" / "runs.json").read_text(encoding="utf-8") == '{"runs": ["r1"]}\n'


def test_a_symlink_into_the_state_folder_is_refused(repo: Path) -> None:
    (repo / "innocent.json").symlink_to(repo / ".sdd" / "runs.json")
    with pytest.raises(WorkspaceError, match="run state"):
        Workspace(repo).write("innocent.json", "{}")
    assert (repo / ".sdd" / "runs.json").read_text(encoding="utf-8") == '{"runs": ["r1"]}\n'


def test_a_symlink_loop_is_a_workspace_error_not_a_crash(repo: Path) -> None:
    (repo / "loop").symlink_to(repo / "loop")
    ws = Workspace(repo)
    with pytest.raises(WorkspaceError, match="loop"):
        ws.apply([Edit(op="create", path="loop/x.py", content="x = 1\n")])
    assert ws.check_edit(Edit(op="create", path="loop", content="x\n"))


def test_ordinary_names_that_look_a_little_like_shell_syntax_are_still_allowed(repo: Path) -> None:
    ws = Workspace(repo)
    names = ["notes~", "price$.txt", "100%.md", "pkg/a-b_c.d.py", "docs/é.md"]
    assert ws.apply([Edit(op="create", path=name, content="ok\n") for name in names]) == names


# --------------------------------------------------------------------------- size limit


def test_the_default_limit_is_the_run_setting_default_and_refuses_a_huge_write(repo: Path) -> None:
    assert RunSettings().max_file_bytes == DEFAULT_MAX_FILE_BYTES <= 4 << 20
    ws = Workspace(repo)
    huge = "x" * (DEFAULT_MAX_FILE_BYTES + 1)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError, match=r"'big.txt'.*over the 1,048,576-byte limit.*run\.max_file_bytes"):
        ws.apply([Edit(op="create", path="big.txt", content=huge)])
    with pytest.raises(WorkspaceError, match="over the"):
        ws.write("big.txt", huge)
    assert snapshot(repo) == before


def test_the_limit_is_configurable_and_exact(repo: Path) -> None:
    ws = Workspace(repo, max_file_bytes=100)
    ws.apply([Edit(op="create", path="fits.txt", content="a" * 99)])  # 99 + newline = 100 bytes
    assert (repo / "fits.txt").stat().st_size == 100
    problem = ws.check_edit(Edit(op="append", path="fits.txt", content="more"))
    assert problem and "limit" in problem and "'fits.txt'" in problem
    with pytest.raises(WorkspaceError, match="101 bytes is over the 100-byte limit"):
        ws.apply([Edit(op="create", path="over.txt", content="a" * 100)])
    assert not (repo / "over.txt").exists()


def test_max_file_bytes_is_a_validated_run_setting() -> None:
    assert RunSettings(max_file_bytes=2048).max_file_bytes == 2048
    with pytest.raises(ValueError):
        RunSettings(max_file_bytes=0)


# --------------------------------------------------------------------------- no stray temp file, ever


def stray(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".sdd-tmp" in p.name]


def test_content_that_is_not_utf8_is_refused_without_a_temp_file(repo: Path) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError, match="not valid UTF-8"):
        ws.write("pkg/mod.py", "x = '\udc80'\n")  # a lone surrogate, as a JSON "\udc80" decodes
    with pytest.raises(WorkspaceError, match="not valid UTF-8"):
        ws.apply([Edit(op="create", path="new/deep/file.txt", content="\ud800")])
    assert snapshot(repo) == before and not stray(repo)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failing_rename_leaves_no_temp_file_no_new_folder_and_the_old_text(
    repo: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    def fail(src: object, dst: object) -> None:
        raise failure

    monkeypatch.setattr(workspace_module.os, "replace", fail)
    ws = Workspace(repo)
    before = snapshot(repo)
    expected = WorkspaceError if isinstance(failure, OSError) else KeyboardInterrupt
    for path in ("pkg/mod.py", "brand/new/folder/file.py"):
        with pytest.raises(expected) as err:
            ws.write(path, "x = 3\n")
        if expected is WorkspaceError:
            assert "No space left on device" in str(err.value) and path in str(err.value)
    assert snapshot(repo) == before and not stray(repo)


def test_a_batch_that_fails_half_way_puts_back_what_it_wrote(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace
    calls: list[str] = []

    def second_fails(src: str | Path, dst: str | Path) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(workspace_module.os, "replace", second_fails)
    ws = Workspace(repo)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError, match="No space left"):
        ws.apply(
            [
                Edit(op="replace_file", path="pkg/mod.py", content="x = 99\n"),
                Edit(op="create", path="pkg/other.py", content="y = 1\n"),
            ]
        )
    monkeypatch.setattr(workspace_module.os, "replace", real_replace)
    assert snapshot(repo) == before and not stray(repo)


def test_one_batch_cannot_use_a_path_as_both_file_and_folder(repo: Path) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError, match="needs it as a folder"):
        ws.apply([Edit(op="create", path="lib", content="x\n"), Edit(op="create", path="lib/a.py", content="x\n")])
    assert snapshot(repo) == before


def test_a_replaced_file_keeps_its_permissions(repo: Path) -> None:
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n", encoding="utf-8")
    script.chmod(0o755)
    Workspace(repo).apply([Edit(op="search_replace", path="run.sh", search="hi", replace="hello")])
    assert script.stat().st_mode & 0o777 == 0o755


def test_reading_a_folder_is_a_workspace_error(repo: Path) -> None:
    with pytest.raises(WorkspaceError, match="'pkg': it is a folder"):
        Workspace(repo).read("pkg")
    with pytest.raises(WorkspaceError, match="no such file"):
        Workspace(repo).read("pkg/missing.py")


# --------------------------------------------------------------------------- checks leave no bytecode behind


def test_checks_leave_no_pycache_in_the_repository(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    (repo / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_mod.py").write_text(
        "from pkg.mod import x\n\n\ndef test_x():\n    assert x == 1\n", encoding="utf-8"
    )
    ws = Workspace(repo)
    for command in (
        "python -m py_compile pkg/mod.py",  # the apply phase's compile-only check
        "python -m compileall -q pkg",
        "python -m pytest -q -p no:cacheprovider tests",
    ):
        result = asyncio.run(ws.run(command, 60))
        assert result.ok, result.output
    assert [p.relative_to(repo).as_posix() for p in repo.rglob("__pycache__")] == []
    assert not list(repo.rglob("*.pyc"))


def test_checks_share_one_bytecode_folder_outside_the_repository(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest and its libraries are compiled once per run, not before every check (2.7 s → 0.9 s a pytest run)."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # the user's own setting would make every check recompile
    ws = Workspace(repo)
    show = "python -c 'import sys; print(sys.pycache_prefix, sys.dont_write_bytecode)'"
    first, second = (asyncio.run(ws.run(show, 60)).output.split() for _ in range(2))
    assert first == second and first[1] == "False"
    assert Path(first[0]).is_dir() and not Path(first[0]).is_relative_to(repo)


def test_a_same_size_edit_within_the_same_second_runs_the_new_code(repo: Path) -> None:
    """The shared bytecode folder never serves the old code of a file the harness just rewrote, even when the
    new text has the same size and mtime (what Python's own .pyc check compares)."""
    ws = Workspace(repo)
    target = ws.write("pkg/answer.py", "VALUE = 1\n")
    show = "python -c 'import pkg.answer; print(pkg.answer.VALUE)'"
    assert asyncio.run(ws.run(show, 60)).output.strip() == "1"
    stamp = target.stat().st_mtime_ns
    ws.write("pkg/answer.py", "VALUE = 2\n")
    os.utime(target, ns=(stamp, stamp))
    assert asyncio.run(ws.run(show, 60)).output.strip() == "2"
