"""Extending the graph from config: custom phases (after / beside), on_fail loop-backs, profiles, prompt dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.builder import build_graph
from sdd_harness.graph.core.config import ConfigError, load_config
from sdd_harness.graph.entry.api import run_change
from tests.fakes.scripted import DemoScript, team

FAKES = Path(__file__).resolve().parents[2] / "fakes"


def write_config(tmp_path: Path, phases: dict[str, Any] | None = None, **top: Any) -> Path:
    data: dict[str, Any] = {"extends": "opencode-go", "phases": phases or {}, **top}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


REVIEW = {
    "module": "sdd_harness.nodes.review",
    "after": "sdd-verify",
    "model": "reviewer-model",
    "source": "openrouter",
    "artifact": "review.md",
    "on_fail": "back_to:sdd-apply",
}


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_review_phase_runs_on_its_own_model_is_gated_and_drawn(tmp_path: Path, demo_repo: Path, slugify_request: str):
    config = write_config(tmp_path, {"sdd-review": REVIEW})
    models = team(DemoScript(), extra_roles=("sdd-review",))
    result = run_change(slugify_request, demo_repo, str(config), models=models, auto_approve=True)

    assert result.status == "done", result.reason
    review_calls = [c for c in result.report["calls"] if c["phase"] == "sdd-review"]
    assert review_calls and {c["requested_model"] for c in review_calls} == {"fake-sdd-review"}
    order = [d["phase"] for d in result.report["decisions"]]
    assert order.index("sdd-verify") < order.index("sdd-review") < order.index("sdd-archive")
    archived = next((demo_repo / "openspec" / "changes" / "archive").iterdir())
    assert "Verdict: approve" in (archived / "review.md").read_text()
    mermaid = build_graph(str(config), models=models).get_graph().draw_mermaid()
    assert "sdd-review --> orchestrator" in mermaid and "orchestrator -.-> sdd-review" in mermaid


def test_review_can_send_the_change_back_to_apply(tmp_path: Path, demo_repo: Path, slugify_request: str):
    config = write_config(tmp_path, {"sdd-review": REVIEW})
    models = team(DemoScript(review_verdicts=["changes_requested", "approve"]), extra_roles=("sdd-review",))
    result = run_change(slugify_request, demo_repo, str(config), models=models, auto_approve=True)

    assert result.status == "done", result.reason
    loop = [d for d in result.report["decisions"] if d["phase"] == "sdd-review"]
    assert [d["action"] for d in loop] == ["back_to_apply", "advance"]
    apply_prompts = [str(m[-1].content) for m in models["sdd-apply"].calls]
    assert any("slugify lacks a docstring example" in p for p in apply_prompts)  # findings reached apply


def test_a_phase_beside_spec_runs_in_the_same_step(tmp_path: Path, demo_repo: Path, slugify_request: str):
    security = {
        "module": "tests.fakes.custom_phase",
        "beside": "sdd-spec",
        "model": "sec-model",
        "prompt": str(FAKES / "sdd-security.md"),
        "artifact": "security.md",
    }
    config = write_config(tmp_path, {"sdd-security": security})
    graph = build_graph(str(config), models=team(extra_roles=("sdd-security",)))
    assert "orchestrator -.-> sdd-security" in graph.get_graph().draw_mermaid()

    models = team(DemoScript(), extra_roles=("sdd-security",))
    steps: list[str] = []
    result = run_change(
        slugify_request,
        demo_repo,
        str(config),
        models=models,
        auto_approve=True,
        on_event=lambda e: steps.append(e["phase"]) if e.get("event") == "phase_start" else None,
    )
    assert result.status == "done", result.reason
    spec_at, sec_at = steps.index("sdd-spec"), steps.index("sdd-security")
    assert abs(spec_at - sec_at) == 1 and steps.index("sdd-design") > max(spec_at, sec_at)
    assert (next((demo_repo / "openspec/changes/archive").iterdir()) / "security.md").is_file()


def test_fast_forward_profile_skips_explore_and_design(tmp_path: Path, demo_repo: Path, slugify_request: str):
    config = write_config(tmp_path, run={"profile": "fast-forward"})
    models = team()
    result = run_change(slugify_request, demo_repo, str(config), models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert models["sdd-explore"].calls == [] and models["sdd-design"].calls == []
    assert {d["phase"] for d in result.report["decisions"]} >= {"sdd-propose", "sdd-tasks", "sdd-archive"}


def test_user_prompt_dir_overrides_a_builtin_prompt(tmp_path: Path, demo_repo: Path, slugify_request: str):
    prompts = tmp_path / "my-prompts"
    prompts.mkdir()
    (prompts / "sdd-propose.md").write_text("You are the propose phase. HOUSE RULE 42: cite the ticket.\n")
    config = write_config(tmp_path, prompt_dir="my-prompts")
    models = team()
    run_change(slugify_request, demo_repo, str(config), models=models, auto_approve=True)
    assert "HOUSE RULE 42" in str(models["sdd-propose"].calls[0][0].content)
    assert "HOUSE RULE 42" not in str(models["sdd-spec"].calls[0][0].content)


@pytest.mark.parametrize(
    ("phases", "key", "says"),
    [
        ({"sdd-x": {**REVIEW, "module": "no.such.module"}}, "phases.sdd-x.module", "cannot import"),
        ({"sdd-x": {**REVIEW, "module": "tests.fakes.no_run_phase"}}, "phases.sdd-x.module", "run(ctx)"),
        ({"sdd-x": {**REVIEW, "after": "sdd-nope"}}, "phases.sdd-x.after", "no such phase"),
        ({"sdd-a": {**REVIEW, "after": "sdd-b"}, "sdd-b": {**REVIEW, "after": "sdd-a"}}, "after", "cycle"),
        ({"sdd-spec": {**REVIEW}}, "phases.sdd-spec.module", "built-in phase"),
        ({"sdd-x": {**REVIEW, "on_fail": "back_to:sdd-nope"}}, "phases.sdd-x.on_fail", "allowed"),
        ({"sdd-x": {"model": "m", "after": "sdd-verify"}}, "phases.sdd-x", "add `module:`"),
    ],
)
def test_bad_extensions_are_refused_before_anything_runs(
    tmp_path: Path, demo_repo: Path, phases: dict, key: str, says: str
):
    config = write_config(tmp_path, phases)
    before = snapshot(demo_repo)
    with pytest.raises(ConfigError) as err:
        run_change("x", demo_repo, str(config), models=team(extra_roles=tuple(phases)), auto_approve=True)
    assert key in str(err.value) and says in str(err.value)
    assert snapshot(demo_repo) == before


def test_unknown_profile_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="run.profile.*allowed profiles: fast-forward, full"):
        load_config(write_config(tmp_path, run={"profile": "turbo"}))
