"""Candidate edits, tried for real: a model's reply read as files, each candidate run in its own copy.

``merged_files`` turns a reply of code blocks into the new text of each file it may change (merged by name,
see ``pyedit``); ``evaluate`` writes them into a fresh copy of the repository, runs the whole test suite there
and scores the candidate: which contract tests it passes (weighted), which existing tests it breaks, how big
its diff is. Nothing here touches the user's files.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from sdd_harness.graph.infra.behaviour import answers, probes
from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.declared import with_new_exceptions
from sdd_harness.graph.infra.outline import outline
from sdd_harness.graph.infra.pycheck import module_of, without_self_imports
from sdd_harness.graph.infra.pyedit import complete_part, diff_size, merge_python, read_blocks, without_echo
from sdd_harness.graph.infra.reexports import with_reexports
from sdd_harness.graph.infra.repomap import iter_files, signatures, slice_file
from sdd_harness.graph.infra.request_items import extract as extract_items
from sdd_harness.graph.infra.sandbox import asandbox
from sdd_harness.graph.infra.selection import Score
from sdd_harness.graph.infra.specialcase import special_cased
from sdd_harness.graph.infra.testrun import PytestRun, run_pytest
from sdd_harness.graph.infra.workspace import Workspace, WorkspaceError

SPECIAL_CASED = "passes only by returning the expected value for this exact input: write the general rule"
FILE_BUDGET = 8_000  # characters of one file shown to the model (longer files are sliced around what matters)


def file_block(workspace: Workspace, rel: str, keep: set[str] | None = None) -> str:
    """A file as the model sees it before an edit: ``### path`` and its text, or a note that it is new.

    ``keep``: the names the change mentions. A Python file is then shown as an outline, those definitions in full
    and every other body folded to ``...`` (see ``outline``); None shows the whole file."""
    if workspace.exists(rel):
        text = workspace.read(rel)
        if keep is not None and rel.endswith(".py"):
            folded = outline(text, keep)
            if folded != text:
                shown = slice_file(folded, FILE_BUDGET)
                return f"### {rel} (outline: bodies not needed here are hidden)\n```python\n{shown}\n```"
        return f"### {rel}\n```python\n{slice_file(text, FILE_BUDGET)}\n```"
    return f"### {rel} (new file: write all of it)"


def dependency_signatures(workspace: Workspace, dependencies: Iterable[str], files: list[str]) -> str:
    """One line of signatures per Python file the tasks depend on but do not change."""
    deps = {d.strip().strip("`") for d in dependencies}
    out = []
    for rel in sorted(deps - set(files)):
        if rel.endswith(".py") and workspace.exists(rel):
            out.append(f"{rel}: " + "; ".join(signatures(workspace.read(rel))[:12]))
    return "\n".join(out)


def current_texts(workspace: Workspace, files: list[str]) -> dict[str, str | None]:
    """Each file's text as it is now (None: it does not exist yet)."""
    return {rel: workspace.read(rel) if workspace.exists(rel) else None for rel in files}


def package_sources(workspace: Workspace, files: list[str], limit: int = 400) -> dict[str, str]:
    """The Python files under the top-level folders of ``files`` (at most ``limit``): where a name a candidate
    uses without importing it may be defined."""
    tops = {rel.split("/")[0] + "/" for rel in files if "/" in rel}
    found = [rel for rel in iter_files(workspace.root) if rel.endswith(".py") and rel.startswith(tuple(tops))]
    return {rel: workspace.read(rel) for rel in found[:limit]}


def merged_files(workspace: Workspace, reply: str, allowed: list[str], echo: str = "") -> tuple[dict[str, str], str]:
    """{file: new text} a reply means for the group's files, or '' plus the reason it cannot be used.

    ``echo``: the prompt the model saw; code it copied from the prompt's examples is left out."""
    reply = without_echo(reply, echo) if echo else reply
    blocks, problems = read_blocks(reply, allowed, current_texts(workspace, allowed))
    files: dict[str, str] = {}
    for block in blocks:
        if block.path not in allowed:
            problems.append(f"{block.path} is not a file of this task (change only: {', '.join(allowed)})")
            continue
        current = files.get(block.path) or (workspace.read(block.path) if workspace.exists(block.path) else None)
        if block.path.endswith(".py"):
            code = complete_part(block.code) if block.cut else block.code
            if not code:
                problems.append(f"{block.path}: the reply was cut off before one whole definition")
                continue
            try:
                merged = merge_python(current, code)
            except Exception as err:  # noqa: BLE001 - a fault merging one reply costs that candidate, not the run
                problems.append(f"{block.path}: the block could not be merged ({type(err).__name__}: {err})")
                continue
            if merged.problems:
                problems += [f"{block.path}: {p}" for p in merged.problems]
                continue
            files[block.path] = without_self_imports(merged.text, module_of(block.path))
        else:
            files[block.path] = block.code
    if not files:
        return {}, "; ".join(problems) or "no usable code block"
    return files, ""


def stops_before_tests(allowed: list[str]) -> list[str]:
    """Stop sequences that end a whole-request reply where it starts a test file this candidate may not write.

    Asked for the whole change, a model writes the code first and then tests (in the real apply replies read,
    no reply put tests first); those tests are refused here, and they were up to two thirds of the reply's
    tokens, often cut at the output limit. A prefix is left out when an allowed file starts with it."""
    prefixes = ("tests/", "test_")
    kept = [p for p in prefixes if not any(a.startswith(p) or a.rsplit("/", 1)[-1].startswith(p) for a in allowed)]
    return [f"\n### {p}" for p in kept]


_FAILED_LINE = re.compile(r"^- (\w+): (.*)$")
_ASSERTED = re.compile(r"assert (.+?) == (.+)$")


def wrong_results(evidence: str, expected: dict[str, tuple[str, str]]) -> str:
    """The failing scenario tests of ``evidence`` as call, result and expectation, one line each.

    ``expected``: test name -> (the scenario's call, what it should do: "return `x`" / "raise `E`"). A small
    model fixes "`f('a b')` gave `'ab'`, expected `'a-b'`" far more readily than a test name and a pytest diff.
    """
    lines = []
    for line in evidence.splitlines():
        found = _FAILED_LINE.match(line.strip())
        if not found or found.group(1) not in expected:
            continue
        call, should = expected[found.group(1)]
        message = found.group(2).removeprefix("AssertionError: ").strip()
        asserted = _ASSERTED.match(message)
        gave = f"gave `{asserted.group(1)}`" if asserted else f"failed with {message.splitlines()[0][:160]}"
        lines.append(f"- `{call}` {gave}; it should {should}")
    return "\n".join(lines)


def repair_prompt(base: str, score: Score, expected: dict[str, tuple[str, str]]) -> str:
    """The prompt, the candidate's code and its real failures, the scenario ones as call / result / expectation
    (``expected``: a contract test's call and what it must give)."""
    code = "\n\n".join(f"### {rel}\n```python\n{text}```" for rel, text in score.files.items())
    wrong = wrong_results(score.evidence, expected)
    return (
        f"{base}\n\nYour code:\n{code}\n\nIt fails:\n{score.evidence or score.error}\n\n"
        + (f"Wrong results:\n{wrong}\n\n" if wrong else "")
        + "Fix the code (not the tests): reply with the changed definitions only, in the same format."
    )


def with_declared_names(
    workspace: Workspace, files: dict[str, str], allowed: list[str], request: str
) -> dict[str, str]:
    """A candidate completed with what the request declares word for word: the new exception classes in the
    files it writes, then the re-exports in the package ``__init__.py`` files it may change and those the
    request names (the user asked for them, whether or not a task lists the file)."""
    items = extract_items(request)
    files = with_new_exceptions(files, items.new_exceptions)
    wanted = items.reexports
    if not wanted:
        return files
    named = [f"{r.package.replace('.', '/')}/__init__.py" for r in wanted]
    allowed = list(dict.fromkeys([*allowed, *(rel for rel in named if workspace.exists(rel))]))

    def read(rel: str) -> str | None:
        return workspace.read(rel) if workspace.exists(rel) else None

    def package_files(folder: str) -> list[str]:
        return [rel for rel in iter_files(workspace.root) if rel.startswith(f"{folder}/") and rel.endswith(".py")]

    return with_reexports(files, allowed, wanted, read, package_files)


def _evidence(run: PytestRun, limit: int = 1600) -> str:
    lines = [f"- {o.test_id.split('::')[-1]}: {o.message[:240]}" for o in run.failing()]
    text = "\n".join(lines) or run.collection_error or run.result.output[-limit:]
    return text[:limit]


CANDIDATE_TIMEOUT_FLOOR_S = 20.0


def candidate_timeout(start: PytestRun | None, limit_s: float) -> float:
    """How long one candidate's test run may take: five times the unchanged code's run (at least 20 s), never
    more than ``limit_s``. A sampled candidate can loop forever; each such one would otherwise cost the whole
    command budget, and a few of them a whole run's time."""
    if start is None or start.result.timed_out:
        return limit_s
    return min(limit_s, max(CANDIDATE_TIMEOUT_FLOOR_S, 5 * start.result.seconds))


async def evaluate(
    workspace: Workspace,
    files: dict[str, str],
    contract: list[str],
    baseline: set[str],
    label: str,
    weights: dict[str, int] | None = None,
    *,
    timeout_s: float,
    examples: dict[str, Example] | None = None,
) -> tuple[Score, PytestRun | None]:
    """Run one candidate in its own copy of the repository: contract tests passed/failed, tests it broke
    (``baseline``: tests that passed before). No contract: the whole suite passing is the one test.
    ``examples``: the contract's scenarios (test id -> example), for the probe calls and to tell a test passed
    by special-casing its input (``specialcase``), which does not count as passed."""
    weights, examples = weights or {}, examples or {}
    calls = probes(list(examples.values()))
    before = await asyncio.to_thread(current_texts, workspace, list(files))
    diff = sum(diff_size(before[rel], text) for rel, text in files.items())
    try:
        async with asandbox(workspace) as copy:
            for rel, text in files.items():
                await asyncio.to_thread(copy.write, rel, text)
            run = await run_pytest(copy, [], timeout_s)
            behaviour = await answers(copy, calls, timeout_s) if files else []
    except WorkspaceError as err:
        return Score(label=label, files=files, error=str(err), diff=diff), None
    outcomes = run.outcomes
    targets = contract or ["(suite)"]
    passed = [
        t for t in targets if (outcomes.get(t) and outcomes[t].status == "passed") or (t == "(suite)" and run.result.ok)
    ]
    gamed = special_cased(files, {t: e for t, e in examples.items() if t in passed})
    passed = [t for t in passed if t not in gamed]
    regressions = sorted(t for t in baseline if t not in contract and t in outcomes and outcomes[t].status != "passed")
    score = Score(
        label=label,
        files=files,
        passed=passed,
        points=sum(weights.get(test, 1) for test in passed),
        failed=[t for t in targets if t not in passed],
        regressions=regressions,
        diff=diff,
        error=run.collection_error if not outcomes and not run.result.ok and contract else "",
        evidence=_evidence(run) + "".join(f"\n- {t.split('::')[-1]}: {SPECIAL_CASED}" for t in sorted(gamed)),
        behaviour=behaviour,
    )
    return score, run
