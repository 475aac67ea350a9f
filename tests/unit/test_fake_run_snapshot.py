"""A structure change must not change what a run writes: the scripted team's demo run, file by file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.golden.fake_run import SNAPSHOT, run_files


def test_the_fake_end_to_end_run_writes_the_recorded_files_byte_for_byte(tmp_path: Path) -> None:
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    got = run_files(tmp_path)
    assert sorted(got) == sorted(expected)
    for rel, text in expected.items():
        assert got[rel] == text, f"{rel} differs from tests/golden/fake_run.json"
