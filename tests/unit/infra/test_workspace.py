"""The workspace guard: models may only write inside the target repo, edits are exact and all-or-nothing,
and commands really run (and really die on timeout)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from sdd_harness.graph.infra.workspace import Edit, Workspace, WorkspaceError


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (folders map to None), for byte-identical comparisons."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = None if path.is_dir() or path.is_symlink() else path.read_bytes()
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    (root / "dup.txt").write_text("same\nsame\n", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("keep me\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- refused paths


@pytest.mark.parametrize(
    "path, why",
    [
        ("{outside}/evil.py", "absolute"),
        ("../evil.py", "outside"),
        ("pkg/../../evil.py", "outside"),
        (".git/config", ".git"),
        ("pkg/../.git/hooks/pre-commit", ".git"),
    ],
)
def test_edits_outside_the_repo_are_refused_and_nothing_is_written(
    repo: Path, outside: Path, tmp_path: Path, path: str, why: str
) -> None:
    path = path.format(outside=outside)
    ws = Workspace(repo)
    before_repo, before_out = snapshot(repo), snapshot(outside)
    with pytest.raises(WorkspaceError) as err:
        ws.apply([Edit(op="create", path=path, content="import os\n")])
    assert path in str(err.value) and why in str(err.value)
    assert snapshot(repo) == before_repo
    assert snapshot(outside) == before_out
    assert not (tmp_path / "evil.py").exists()


def test_symlink_pointing_outside_is_refused(repo: Path, outside: Path) -> None:
    (repo / "link").symlink_to(outside, target_is_directory=True)
    (repo / "secret-link.txt").symlink_to(outside / "secret.txt")
    ws = Workspace(repo)
    before = snapshot(outside)
    for edit in (
        Edit(op="create", path="link/evil.py", content="x\n"),
        Edit(op="replace_file", path="secret-link.txt", content="overwritten\n"),
        Edit(op="search_replace", path="secret-link.txt", search="keep me", replace="gone"),
    ):
        with pytest.raises(WorkspaceError, match="outside the repository"):
            ws.apply([edit])
    assert snapshot(outside) == before
    assert (outside / "secret.txt").read_text(encoding="utf-8") == "keep me\n"


def test_refused_paths_cannot_be_read_either(repo: Path, outside: Path) -> None:
    ws = Workspace(repo)
    with pytest.raises(WorkspaceError):
        ws.read(str(outside / "secret.txt"))
    with pytest.raises(WorkspaceError):
        ws.read("../outside/secret.txt")
    assert ws.exists("../outside/secret.txt") is False
    assert ws.exists(".git/config") is False


def test_missing_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace(tmp_path / "nope")


# --------------------------------------------------------------------------- edit semantics


def test_search_replace_changes_exactly_the_one_match(repo: Path) -> None:
    ws = Workspace(repo)
    changed = ws.apply([Edit(op="search_replace", path="pkg/mod.py", search="y = 2", replace="y = 3")])
    assert changed == ["pkg/mod.py"]
    assert (repo / "pkg" / "mod.py").read_text(encoding="utf-8") == "x = 1\ny = 3\n"


@pytest.mark.parametrize(
    "path, search, message",
    [
        ("dup.txt", "same", "found 2 times"),
        ("pkg/mod.py", "z = 9", "found 0 times"),
        ("pkg/missing.py", "x", "does not exist"),
        ("pkg/mod.py", "", "non-empty"),
    ],
)
def test_search_replace_must_match_exactly_once(repo: Path, path: str, search: str, message: str) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    with pytest.raises(WorkspaceError, match=message):
        ws.apply([Edit(op="search_replace", path=path, search=search, replace="new")])
    assert snapshot(repo) == before


def test_fenced_content_is_stripped(repo: Path) -> None:
    ws = Workspace(repo)
    ws.apply(
        [
            Edit(op="create", path="pkg/new.py", content="```python\ndef f():\n    return 1\n```"),
            Edit(op="search_replace", path="pkg/mod.py", search="```\nx = 1\n```", replace="```py\nx = 10\n```"),
        ]
    )
    assert (repo / "pkg" / "new.py").read_text(encoding="utf-8") == "def f():\n    return 1\n"
    assert (repo / "pkg" / "mod.py").read_text(encoding="utf-8") == "x = 10\ny = 2\n"


def test_create_makes_folders_and_ends_with_newline(repo: Path) -> None:
    ws = Workspace(repo)
    assert ws.apply([Edit(op="create", path=" `deep/er/file.txt` ", content="hello")]) == ["deep/er/file.txt"]
    assert (repo / "deep" / "er" / "file.txt").read_text(encoding="utf-8") == "hello\n"
    assert not list(repo.rglob("*.sdd-tmp"))


def test_apply_is_all_or_nothing(repo: Path, outside: Path) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    edits = [
        Edit(op="create", path="pkg/new.py", content="NEW = True\n"),
        Edit(op="replace_file", path="pkg/mod.py", content="x = 100\n"),
        Edit(op="search_replace", path="dup.txt", search="same", replace="other"),  # 2 matches: invalid
        Edit(op="create", path="../escape.py", content="x\n"),  # outside: invalid
    ]
    with pytest.raises(WorkspaceError) as err:
        ws.apply(edits)
    assert "found 2 times" in str(err.value) and "../escape.py" in str(err.value)  # every problem reported
    assert snapshot(repo) == before
    assert not (repo.parent / "escape.py").exists()


def test_conflicting_edits_to_one_file_are_refused_not_silently_dropped(repo: Path) -> None:
    ws = Workspace(repo)
    before = snapshot(repo)
    edits = [
        Edit(op="search_replace", path="pkg/mod.py", search="x = 1\ny = 2", replace="z = 3"),
        Edit(op="search_replace", path="pkg/mod.py", search="y = 2", replace="y = 20"),
    ]
    with pytest.raises(WorkspaceError):
        ws.apply(edits)
    assert snapshot(repo) == before


# --------------------------------------------------------------------------- commands


def run(ws: Workspace, command: str, timeout_s: float = 30):
    return asyncio.run(ws.run(command, timeout_s))


def test_run_captures_exit_code_and_output_in_the_repo(repo: Path) -> None:
    ws = Workspace(repo)
    result = run(ws, """python -c "import os, sys; print('cwd=' + os.getcwd()); sys.exit(3)" """)
    assert result.exit_code == 3 and not result.ok and not result.timed_out
    assert f"cwd={repo.resolve()}" in result.output
    ok = run(ws, "python -c \"import sys; print('err', file=sys.stderr)\"")
    assert ok.ok and ok.exit_code == 0 and "err" in ok.output  # stderr is captured too


def test_run_reports_a_command_that_cannot_start(repo: Path) -> None:
    result = run(Workspace(repo), "definitely-not-a-command-xyz --help")
    assert result.exit_code is None and not result.ok
    assert "could not start" in result.output


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        return stat.read_text().split(")")[-1].split()[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_timeout_kills_the_process_and_its_children(repo: Path) -> None:
    ws = Workspace(repo)
    script = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
        "open('child.pid', 'w').write(str(p.pid)); print('started', flush=True); time.sleep(30)"
    )
    (repo / "sleeper.py").write_text(script, encoding="utf-8")
    started = time.perf_counter()
    result = run(ws, "python sleeper.py", timeout_s=1)
    elapsed = time.perf_counter() - started
    assert result.timed_out and not result.ok and result.exit_code is None
    assert elapsed < 10, f"timeout of 1s took {elapsed:.1f}s"
    child = int((repo / "child.pid").read_text())
    deadline = time.time() + 5
    while _alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the grandchild survived the timeout"


def test_simple_sleep_times_out(repo: Path) -> None:
    started = time.perf_counter()
    result = run(Workspace(repo), 'python -c "import time; time.sleep(30)"', timeout_s=1)
    assert result.timed_out and result.exit_code is None and not result.ok
    assert time.perf_counter() - started < 10


def test_run_timeout_keeps_the_output_printed_so_far(repo: Path) -> None:
    command = "python -c \"import time; print('before the hang', flush=True); time.sleep(30)\""
    result = run(Workspace(repo), command, timeout_s=1.5)
    assert result.timed_out
    assert "before the hang" in result.output


def test_append_adds_code_at_the_end(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("def a():\n    return 1\n")
    ws = Workspace(tmp_path)
    ws.apply([Edit(op="append", path="mod.py", content="def b():\n    return 2")])
    assert (tmp_path / "mod.py").read_text() == "def a():\n    return 1\n\n\ndef b():\n    return 2\n"


def test_edits_that_break_python_syntax_are_refused_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("def a():\n    return 1\n")
    ws = Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match=r"mod.py line 1: SyntaxError"):
        ws.apply([Edit(op="replace_file", path="mod.py", content='def t(x, s="..." -> str):\n    pass\n')])
    assert (tmp_path / "mod.py").read_text() == "def a():\n    return 1\n"


def test_create_never_overwrites_and_no_op_edits_are_refused(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("def a():\n    return 1\n")
    ws = Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.apply([Edit(op="create", path="mod.py", content="x = 1\n")])
    with pytest.raises(WorkspaceError, match="changes nothing"):
        ws.apply([Edit(op="search_replace", path="mod.py", search="return 1", replace="return 1")])
    assert (tmp_path / "mod.py").read_text() == "def a():\n    return 1\n"


def test_a_search_text_that_is_slightly_off_points_at_the_line_it_meant(repo: Path) -> None:
    ws = Workspace(repo)
    with pytest.raises(WorkspaceError, match=r"closest line in the file is `y = 2`"):
        ws.apply([Edit(op="search_replace", path="pkg/mod.py", search="y  =  2", replace="y = 3")])


def test_an_english_sentence_written_as_code_becomes_a_comment(repo: Path) -> None:
    ws = Workspace(repo)
    body = (
        "def check(page: int) -> None:\n"
        "    This method validates the `page` argument.\n"
        "    if page < 1:\n"
        "        raise ValueError(page)\n"
    )
    ws.apply([Edit(op="create", path="pkg/check.py", content=body)])
    text = (repo / "pkg" / "check.py").read_text(encoding="utf-8")
    assert "    # This method validates the `page` argument.\n" in text and "raise ValueError(page)" in text


def test_every_such_sentence_is_commented_not_only_the_first_few(repo: Path) -> None:
    ws = Workspace(repo)
    funcs = [
        f"def check_{i}(value: int) -> int:\n    This method validates the `value` argument {i}.\n    return value\n"
        for i in range(6)
    ]
    ws.apply([Edit(op="create", path="pkg/checks.py", content="\n\n".join(funcs))])
    assert (repo / "pkg" / "checks.py").read_text(encoding="utf-8").count("    # This method validates") == 6


def test_real_syntax_errors_are_still_refused(repo: Path) -> None:
    ws = Workspace(repo)
    with pytest.raises(WorkspaceError, match="SyntaxError"):
        ws.apply([Edit(op="create", path="pkg/bad.py", content="def broken(:\n    pass\n")])
    assert not (repo / "pkg" / "bad.py").exists()


def test_a_markdown_fence_left_inside_a_python_file_is_dropped(repo: Path) -> None:
    ws = Workspace(repo)
    ws.apply([Edit(op="append", path="pkg/mod.py", content="# helpers\n```python\ndef z() -> int:\n    return 3\n```")])
    text = (repo / "pkg" / "mod.py").read_text(encoding="utf-8")
    assert "```" not in text and "def z() -> int:" in text


def test_a_line_break_json_decoded_inside_a_quoted_string_is_escaped_back(repo: Path) -> None:
    """The model wrote '\\n' in its JSON answer; decoding made it a real line break inside a one-line string."""
    test = (
        "def test_collapse():\n"
        "    assert ' '.join('  a \n  b '.split()) == 'a b'\n"
        "    assert 'x\ny\nz'.count('\\n') == 2\n"
    )
    Workspace(repo).apply([Edit(op="create", path="pkg/test_text.py", content=test)])
    text = (repo / "pkg" / "test_text.py").read_text(encoding="utf-8")
    assert "'  a \\n  b '" in text and "'x\\ny\\nz'" in text
    namespace: dict = {}
    exec(compile(text, "test_text.py", "exec"), namespace)
    namespace["test_collapse"]()  # the repaired test runs and passes
