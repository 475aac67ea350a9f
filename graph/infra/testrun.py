"""Which command runs a repository's tests, and what a pytest run said, test by test.

The test command is found by looking at the repository, never by asking a model: a model's guess
(``python tests/test_x.py``, a module path that does not import) once replaced a working ``python -m pytest``
and every later phase chased the resulting errors. A model may only *propose* a command, and only an
allow-listed runner invocation (no shell syntax) is ever run unattended.

pytest runs here always write JUnit XML outside the repository, so each test's outcome (and the exception a
failing one raised) is read from a file, not scraped from the terminal.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import re
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.workspace import CommandResult, Workspace

PYTEST = "python -m pytest -q"
QUIET_PYTEST = "-p no:cacheprovider"  # no .pytest_cache left in the user's repository
_SKIP_DIRS = {".git", ".sdd", ".venv", "venv", "env", "node_modules", "__pycache__", "build", "dist", ".tox"}
_SAFE_ARG = r"[\w./:=@,+%-]+"
ALLOWED_RUNNERS = (
    r"python3? -m pytest",
    r"pytest",
    r"python3? -m unittest",
    r"npm (?:run )?test",
    r"yarn test",
    r"pnpm test",
    r"go test",
    r"cargo test",
    r"make test",
    r"tox",
    r"nox",
)
_OUTSIDE = re.compile(r"(?:^|[ =:,])/|(?:^|[ =:,/])\.\.(?:[/ ]|$)")  # an absolute path or a ".." step
_ALLOWED = re.compile(rf"^(?:{'|'.join(ALLOWED_RUNNERS)})(?: {_SAFE_ARG})*$")


class DetectedCommand(BaseModel):
    """A test command and the evidence it was chosen on."""

    command: str
    language: str
    why: str


def allowed_test_command(command: str) -> bool:
    """A known test runner with plain arguments: no pipes, redirects, substitutions or chained commands, and
    no path outside the repository (``pytest --basetemp=/home/me`` would empty that folder)."""
    plain = " ".join(command.split())
    return bool(_ALLOWED.match(plain)) and not _OUTSIDE.search(plain)


def _pytest_configured(root: Path) -> str:
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
        if "pytest" in (data.get("tool") or {}):
            return "pyproject.toml configures pytest"
    if (root / "pytest.ini").is_file():
        return "pytest.ini"
    for name, section in (("setup.cfg", "tool:pytest"), ("tox.ini", "pytest")):
        path = root / name
        if path.is_file():
            parser = configparser.ConfigParser()
            try:
                parser.read_string(path.read_text(encoding="utf-8"))
            except (configparser.Error, UnicodeDecodeError):
                continue
            if parser.has_section(section):
                return f"{name} [{section}]"
    return ""


def _test_files(root: Path, limit: int = 2000) -> list[Path]:
    """pytest-style test files (test_*.py, *_test.py) and conftest.py, skipping virtualenvs and build output."""
    found: list[Path] = []
    stack = [root]
    while stack and len(found) < 50 and limit > 0:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            limit -= 1
            if entry.is_dir() and not entry.is_symlink():
                if entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
                    stack.append(entry)
            elif entry.suffix == ".py" and (
                entry.name.startswith("test_") or entry.name.endswith("_test.py") or entry.name == "conftest.py"
            ):
                found.append(entry)
    return found


def detect_test_command(root: Path) -> DetectedCommand | None:
    """The repository's test command from what is on disk, or None when nothing says how its tests run."""
    configured = _pytest_configured(root)
    if configured:
        return DetectedCommand(command=PYTEST, language="python", why=configured)
    tests = _test_files(root)
    if tests:
        first = tests[0].relative_to(root).as_posix()
        return DetectedCommand(command=PYTEST, language="python", why=f"pytest-style test files ({first})")
    python_project = any((root / n).is_file() for n in ("pyproject.toml", "setup.py", "setup.cfg")) or any(
        True for pattern in ("*.py", "*/*.py") for _ in root.glob(pattern)
    )
    if python_project:
        return DetectedCommand(command=PYTEST, language="python", why="a Python project without tests yet")
    if _npm_test_script(root / "package.json"):
        return DetectedCommand(command="npm test --silent", language="javascript", why="package.json scripts.test")
    return None


def _npm_test_script(package: Path) -> bool:
    """package.json has a real ``scripts.test`` (not npm init's ``echo "Error: no test specified" && exit 1``)."""
    try:
        data = json.loads(package.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    scripts = data.get("scripts") if isinstance(data, dict) else None
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and "no test specified" not in test


def is_pytest(command: str) -> bool:
    return bool(re.match(r"^(?:python3? -m )?pytest\b", command.strip()))


def quiet(command: str) -> str:
    """A pytest command that leaves no cache behind in the repository."""
    if is_pytest(command) and "cacheprovider" not in command:
        return f"{command} {QUIET_PYTEST}"
    return command


# --------------------------------------------------------------------------------------------------
# One pytest run, read test by test
# --------------------------------------------------------------------------------------------------

Status = Literal["passed", "failed", "error", "skipped"]


class TestOutcome(BaseModel):
    """What one test did: its status and, for a failure, the exception class and message."""

    test_id: str = Field(description="path::name (parametrised ids keep their [..] part).")
    status: Status
    kind: str = ""
    message: str = ""


class PytestRun(BaseModel):
    """A pytest run: the command's result and each collected test's outcome."""

    result: CommandResult
    outcomes: dict[str, TestOutcome] = Field(default_factory=dict)
    collection_error: str = ""

    @property
    def passed(self) -> set[str]:
        return {t for t, o in self.outcomes.items() if o.status == "passed"}

    def failing(self) -> list[TestOutcome]:
        return [o for o in self.outcomes.values() if o.status in ("failed", "error")]


async def run_pytest(workspace: Workspace, targets: list[str], timeout_s: float, base: str = PYTEST) -> PytestRun:
    """Run pytest on ``targets`` (paths or node ids; none = the whole suite) with JUnit XML kept outside the repo."""
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="sdd-junit-")
    report = Path(folder) / "report.xml"
    command = f"{quiet(base)} -rfE -o junit_family=xunit1 --junitxml={report} {' '.join(targets)}".strip()
    try:
        result = await workspace.run(command, timeout_s)
        read = await asyncio.to_thread(read_junit, report)
    finally:
        await asyncio.to_thread(_remove, Path(folder))
    shown = result.model_copy(update={"command": f"{quiet(base)} {' '.join(targets)}".strip()})
    outcomes = {t: o for t, o in read.items() if "::" in t}
    uncollected = [o for t, o in read.items() if "::" not in t]  # a file that failed to import: nothing ran
    return PytestRun(result=shown, outcomes=outcomes, collection_error=_collection_error(result, outcomes, uncollected))


def _remove(folder: Path) -> None:
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    folder.rmdir()


def _collection_error(result: CommandResult, outcomes: dict[str, TestOutcome], uncollected: list[TestOutcome]) -> str:
    if result.timed_out:
        return "the test run timed out"
    if uncollected:
        return "collection failed: " + ", ".join(f"{o.test_id} ({o.kind})" for o in uncollected)[:300]
    errors = re.findall(r"^ERROR (?:collecting )?(\S+)", result.output, re.MULTILINE)
    if errors and not outcomes:
        return f"collection failed: {', '.join(dict.fromkeys(errors))[:300]}"
    if result.exit_code not in (0, 1, 5) and not outcomes:
        return f"pytest exited {result.exit_code}: {result.output.strip().splitlines()[-1:] or ''}"
    return ""


def read_junit(path: Path) -> dict[str, TestOutcome]:
    """Outcomes by pytest node id (``file::name``, ``file::Class::name``) from pytest's xunit1 JUnit XML (no
    file: nothing ran); a file that failed to collect is keyed by its path alone."""
    if not path.is_file():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    outcomes: dict[str, TestOutcome] = {}
    for case in root.iter("testcase"):
        classname = case.get("classname") or ""
        file = case.get("file") or classname.replace(".", "/") + ".py"
        module = file.removesuffix(".py").replace("/", ".")
        classes = classname[len(module) + 1 :].split(".") if classname.startswith(f"{module}.") else []
        test_id = "::".join([file, *classes, case.get("name", "")])
        if not classname and any(child.get("message") == "collection failure" for child in case):
            test_id = file
        status: Status = "passed"
        kind = message = ""
        for child in case:
            if child.tag in ("failure", "error"):
                status = "failed" if child.tag == "failure" else "error"
                message = (child.get("message") or "").strip()
                kind = exception_kind(message, child.text or "")
            elif child.tag == "skipped":
                status = "skipped"
        outcomes[test_id] = TestOutcome(test_id=test_id, status=status, kind=kind, message=message[:600])
    return outcomes


def exception_kind(message: str, text: str) -> str:
    """The exception class a failing test raised (``ImportError``, ``AssertionError``, ``Failed`` …)."""
    match = re.match(r"([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|Failed)\b", message)
    if match:
        return match.group(1).split(".")[-1]
    found = re.findall(r"^E\s+([A-Za-z_][\w.]*(?:Error|Exception)|Failed):", text, re.MULTILINE)
    if found:
        return found[-1].split(".")[-1]
    if message.startswith("assert") or "AssertionError" in text:
        return "AssertionError"
    if "fixture" in message and "not found" in message:
        return "FixtureError"
    return "Error"
