"""Probe calls next to the scenarios' own, and the fingerprint of a candidate's answers to them: candidates that
answer alike back each other up when the contract cannot tell them apart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sdd_harness.graph.infra.behaviour import agreement, answers, probes, variants
from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.workspace import Workspace

SPLIT = Example(call="split(1000, 3)", expect="[334, 333, 333]", module="pkg.amounts")
RIGHT = "def split(total, parts):\n    q, r = divmod(total, parts)\n    return [q + (i < r) for i in range(parts)]\n"
RIGHT_TOO = (
    "def split(total, parts):\n    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]\n"
)
# passes the scenario (remainder 1) but hands a larger remainder out whole to every first share
THIN = RIGHT.replace("q + (i < r)", "q + r if i < r else q")


def test_each_literal_argument_is_varied_one_at_a_time_taking_turns():
    calls = variants("split(1000, 3)")
    assert "split(1000, 3)" not in calls and calls[:2] == ["split(0, 3)", "split(1000, 0)"]
    assert "split(2, 3)" in calls and "split(1000, 2)" in calls and "split(999, 3)" in calls
    assert all(c.count("1000") + c.count(", 3)") >= 1 for c in calls)  # never both changed at once
    assert "f('', n=2)" in variants("f('ab', n=2)") and "f('ab', n=3)" in variants("f('ab', n=2)")
    assert variants("obj.size") == [] and variants("not python(") == []
    assert variants("load('/etc/app.conf')") == variants("get('https://x.org')") == []  # never a path or address


def test_probes_carry_the_scenarios_imports_and_setup_and_are_bounded():
    example = Example(setup=["b = Box(2)"], call="b.put('x')", expect="1", module="pkg.box")
    found = probes([SPLIT, example], limit=6)
    assert len(found) == 6
    assert {p.call.split("(")[0] for p in found} == {"split", "b.put"}  # both scenarios get probes
    put = next(p for p in found if p.call.startswith("b.put"))
    assert put.setup == ["b = Box(2)"] and put.imports == ["from pkg.box import Box"]


def fingerprint(tmp_path: Path, name: str, code: str) -> list[str]:
    root = tmp_path / name
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "amounts.py").write_text(code)
    return asyncio.run(answers(Workspace(root), probes([SPLIT]), timeout_s=60))


def test_code_that_behaves_alike_answers_alike_and_thin_code_does_not(tmp_path: Path):
    right, right_too, thin = (fingerprint(tmp_path, n, c) for n, c in [("a", RIGHT), ("b", RIGHT_TOO), ("c", THIN)])
    assert len(right) == len(probes([SPLIT])) and right != right_too  # zero parts: [] here, an error there
    assert agreement(right, right_too) == len(right) - 1  # one untested corner apart
    assert agreement(thin, right) < agreement(right, right_too)  # split(2, 3): [2, 2, 0], not [1, 1, 0]; ...
    assert agreement(right, right[:-1]) == 0  # answers to different calls are not compared


def test_a_probe_that_never_returns_is_cut_off_and_answers_too(tmp_path: Path):
    endless = RIGHT.replace("    q, r", "    while total == 2:\n        pass\n    q, r")
    stuck = fingerprint(tmp_path, "loop", endless)  # split(2, 3) loops: that call answers "timeout"
    assert stuck and stuck != fingerprint(tmp_path, "ok", RIGHT)


def test_answers_do_not_depend_on_memory_addresses_or_set_order(tmp_path: Path):
    code = "class Tag:\n    pass\n\ndef split(total, parts):\n    return {str(total), 'a', 'b'}, Tag()\n"
    assert fingerprint(tmp_path, "one", code) == fingerprint(tmp_path, "two", code)
