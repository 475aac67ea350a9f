"""Metric 6: tokens re-spent on finished phases after SIGKILL + resume (goal 0).

The pipeline runs in a child process (this file as a script) whose fakes append one line per model call
(``start|end <leg> <role> <prompt tokens>``, one ``write`` each so lines survive the kill). The parent SIGKILLs
the child once apply's first model call has started (apply's fake answers after a delay), resumes the run in a
fresh child with ``resume_run``, and compares per-phase calls and prompt tokens with an uninterrupted run.

    python bench/resume.py run|resume --repo R --log L --run-id ID [--apply-latency S]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REQUEST, ROOT, config, copy_demo, scratch_dir  # noqa: E402

KILL_IN = "sdd-apply"


def child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["run", "resume"])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--apply-latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    from sdd_harness.graph.entry.api import resume_run, run_change
    from tests.fakes.logged import logged_team

    models = logged_team(args.log, args.mode, {KILL_IN: args.apply_latency}, with_tokens=True)
    if args.mode == "run":
        cfg = config("opencode-go", {"verify_commands": ["python -m pytest -q -p no:cacheprovider"]})
        result = run_change(REQUEST, args.repo, cfg, models=models, auto_approve=True, run_id=args.run_id)
    else:
        result = resume_run(args.run_id, args.repo, models=models)
    print(json.dumps({"status": result.status, "reason": result.reason}))
    return 0 if result.status == "done" else 1


def _spawn(mode: str, repo: Path, log: Path, run_id: str, latency: float) -> subprocess.Popen:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "LANGSMITH_TRACING": "false"}
    env.pop("SDD_CHECKPOINT_URL", None)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        mode,
        "--repo",
        str(repo),
        "--log",
        str(log),
        "--run-id",
        run_id,
        "--apply-latency",
        str(latency),
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _parse(log: Path) -> list[tuple[str, str, str, int]]:
    if not log.is_file():
        return []
    return [(k, leg, role, int(tok)) for k, leg, role, tok in (ln.split() for ln in log.read_text().splitlines())]


def _per_role(lines: list[tuple[str, str, str, int]], leg: str | None = None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "tokens": 0})
    for kind, lg, role, tokens in lines:
        if kind == "start" and (leg is None or lg == leg):
            out[role]["calls"] += 1
            out[role]["tokens"] += tokens
    return dict(out)


def measure(apply_latency: float = 2.0, timeout: float = 120.0) -> dict[str, Any]:
    base = scratch_dir()
    # uninterrupted reference
    ref_repo, ref_log = copy_demo(base / "ref"), base / "ref.log"
    ref = _spawn("run", ref_repo, ref_log, "benchref", 0.0)
    ref_out, ref_err = ref.communicate(timeout=timeout)
    # killed + resumed
    repo, log = copy_demo(base / "crash"), base / "crash.log"
    child = _spawn("run", repo, log, "benchcrash", apply_latency)
    deadline = time.monotonic() + timeout
    killed_at = None
    while time.monotonic() < deadline and child.poll() is None:
        if any(k == "start" and role == KILL_IN for k, _, role, _ in _parse(log)):
            os.kill(child.pid, signal.SIGKILL)
            killed_at = KILL_IN
            break
        time.sleep(0.02)
    child.wait(timeout=30)
    resumed = _spawn("resume", repo, log, "benchcrash", 0.0)
    res_out, res_err = resumed.communicate(timeout=timeout)
    lines = _parse(log)
    first, second, reference = _per_role(lines, "run"), _per_role(lines, "resume"), _per_role(_parse(ref_log))
    ended = {role for kind, leg, role, _ in lines if kind == "end" and leg == "run"}
    finished = [role for role in first if role != killed_at and role in ended]
    respent = {role: second.get(role, {"tokens": 0})["tokens"] for role in finished}
    respent_calls = {role: second.get(role, {"calls": 0})["calls"] for role in finished}
    combined = {
        role: {
            "calls": first.get(role, {}).get("calls", 0) + second.get(role, {}).get("calls", 0),
            "tokens": first.get(role, {}).get("tokens", 0) + second.get(role, {}).get("tokens", 0),
        }
        for role in sorted(set(first) | set(second) | set(reference))
    }
    status = (
        json.loads(res_out.strip().splitlines()[-1]) if res_out.strip() else {"status": "?", "reason": res_err[-500:]}
    )
    ref_status = json.loads(ref_out.strip().splitlines()[-1]) if ref_out.strip() else {"status": "?"}
    return {
        "killed_in": killed_at,
        "kill_signal": "SIGKILL" if killed_at else None,
        "child_returncode": child.returncode,
        "resume_status": status.get("status"),
        "resume_reason": status.get("reason", "")[:300],
        "reference_status": ref_status.get("status"),
        "finished_before_kill": finished,
        "respent_tokens_finished": sum(respent.values()),
        "respent_calls_finished": sum(respent_calls.values()),
        "respent_by_phase": respent,
        "killed_phase_rerun_tokens": second.get(killed_at or "", {}).get("tokens", 0),
        "combined": combined,
        "reference": reference,
        "extra_vs_reference": {
            role: combined[role]["tokens"] - reference.get(role, {}).get("tokens", 0) for role in combined
        },
        "call_counts_equal_except_killed": all(
            combined[r]["calls"] == reference.get(r, {}).get("calls", 0) for r in combined if r != killed_at
        ),
        "role_calls": dict(Counter(role for k, _, role, _ in lines if k == "start")),
    }


if __name__ == "__main__":
    sys.exit(child_main())
