"""Unit tests for sdd_harness.graph.infra.openspec: models, rendering, parsing and the archive merge (no npm needed)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # repo root: the package is not installed

import sdd_harness.graph.infra.openspec as osp  # noqa: E402
from sdd_harness.graph.infra.openspec import (  # noqa: E402
    ArchiveError,
    CapabilityDelta,
    Requirement,
    Scenario,
    SpecDeltaSet,
    archive_change,
    check_change,
    kebab_case,
    list_scenarios,
    parse_delta,
    parse_spec,
    render_delta,
    render_requirement,
    write_change_specs,
)

TODAY = date(2026, 1, 15)
PURPOSE = "Authenticate users so that only known people can reach the application data."


def req(name: str, text: str = "", *scenarios: str) -> str:
    text = text or f"The system SHALL do {name.lower()}."
    scen = "\n\n".join(f"#### Scenario: {s}\n- **WHEN** {s} happens\n- **THEN** it works" for s in scenarios or ("Ok",))
    return f"### Requirement: {name}\n{text}\n\n{scen}"


def main_spec(*blocks: str, title: str = "auth", tail: str = "") -> str:
    return (
        f"# {title} Specification\n\n## Purpose\n{PURPOSE}\n\n## Requirements\n\n" + "\n\n".join(blocks) + "\n" + tail
    )


AUTH = main_spec(req("Login", "", "Valid login", "Bad password"), req("Logout"), req("Lockout", "", "Fifth", "Reset"))


def make_repo(root: Path, main: dict[str, str], deltas: dict[str, str], change_id: str = "c1") -> Path:
    for cap, text in main.items():
        path = root / "openspec" / "specs" / cap / "spec.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    cdir = root / "openspec" / "changes" / change_id
    (cdir / "specs").mkdir(parents=True, exist_ok=True)
    (cdir / "proposal.md").write_text("## Why\nBecause.\n\n## What Changes\n- stuff\n")
    for cap, text in deltas.items():
        path = cdir / "specs" / cap / "spec.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    base = root / "openspec"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def dirs(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "openspec").rglob("*") if p.is_dir())


def scenario(name: str = "Works", **kw: object) -> Scenario:
    return Scenario(
        name=name,
        when=kw.get("when", ["it runs"]),
        then=kw.get("then", ["it works"]),
        given=kw.get("given", []),
    )


def requirement(name: str, text: str | None = None, *scen: Scenario) -> Requirement:
    return Requirement(
        name=name, text=text or f"The system SHALL {name.lower()}.", scenarios=list(scen) or [scenario()]
    )


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


def test_requirement_needs_shall_or_must() -> None:
    with pytest.raises(ValidationError, match="requirement 'Login' text must contain SHALL or MUST"):
        Requirement(name="Login", text="Users can log in.", scenarios=[scenario()])
    with pytest.raises(ValidationError, match="SHALL or MUST"):
        Requirement(name="Login", text="The system shall log in.", scenarios=[scenario()])  # lower case


def test_requirement_needs_a_scenario_and_scenario_needs_when_then() -> None:
    with pytest.raises(ValidationError, match="scenarios"):
        Requirement(name="Login", text="The system SHALL x.", scenarios=[])
    with pytest.raises(ValidationError, match="when"):
        Scenario(name="s", when=[], then=["x"])
    with pytest.raises(ValidationError, match="then"):
        Scenario(name="s", when=["x"], then=["```", "  "])  # only noise -> empty after cleaning


def test_fences_headers_and_prefixes_are_stripped() -> None:
    r = Requirement(
        name="### Requirement: `Login`",
        text="```markdown\n### Requirement: Login\nThe system SHALL let users log in.\n```",
        scenarios=[
            {
                "name": "#### Scenario: **Valid**",
                "given": "GIVEN: a user",
                "when": ["- **WHEN** valid creds", "WHEN the form is sent"],
                "then": ["**THEN** ok"],
            }
        ],
    )
    assert r.name == "Login"
    assert r.text == "The system SHALL let users log in."
    s = r.scenarios[0]
    assert (s.name, s.given, s.when, s.then) == (
        "Valid",
        ["a user"],
        ["valid creds", "the form is sent"],
        ["ok"],
    )


def test_cleaning_keeps_ordinary_words() -> None:
    s = Scenario(name="#1 case ##", when=["Android app opens"], then=["and the Thenable resolves", "#tag shown"])
    assert (s.name, s.when, s.then) == (
        "#1 case",
        ["Android app opens"],
        ["the Thenable resolves", "#tag shown"],
    )


def test_capability_is_kebab_cased() -> None:
    assert kebab_case("User Auth") == "user-auth"
    assert kebab_case("userAuth") == "user-auth"
    assert kebab_case("## Identity/User_Auth ") == "identity/user-auth"
    d = CapabilityDelta(capability="Audit Log!", added=[requirement("Log")])
    assert d.capability == "audit-log"
    with pytest.raises(ValidationError, match="kebab-case"):
        CapabilityDelta(capability="!!!", added=[requirement("Log")])


def test_delta_rules() -> None:
    with pytest.raises(ValidationError, match="has no added, modified, removed or renamed"):
        CapabilityDelta(capability="auth")
    with pytest.raises(ValidationError, match="purpose must be at least 50"):
        CapabilityDelta(capability="auth", purpose="Too short.", added=[requirement("A")])
    with pytest.raises(ValidationError, match="'A' appears twice in ADDED"):
        CapabilityDelta(capability="auth", added=[requirement("A"), requirement("A")])
    with pytest.raises(ValidationError, match="'A' is in both MODIFIED and REMOVED"):
        CapabilityDelta(capability="auth", modified=[requirement("A")], removed=["A"])
    with pytest.raises(ValidationError, match="MODIFIED must use the new name"):
        CapabilityDelta(capability="auth", modified=[requirement("A")], renamed=[{"from_name": "A", "to_name": "B"}])
    with pytest.raises(ValidationError, match="duplicate scenario names"):
        requirement("A", None, scenario("s"), scenario("s"))
    with pytest.raises(ValidationError, match="more than once"):
        SpecDeltaSet(
            deltas=[
                CapabilityDelta(capability="a", removed=["x"]),
                CapabilityDelta(capability="A", removed=["y"]),
            ]
        )


def test_removed_accepts_plain_names() -> None:
    d = CapabilityDelta(capability="auth", removed=["Logout", {"name": "Lockout", "reason": "gone"}])
    assert d.removed_names == ["Logout", "Lockout"]
    assert d.removed[1].reason == "gone"


def test_json_schema_has_descriptions() -> None:
    schema = SpecDeltaSet.model_json_schema()
    req_schema = schema["$defs"]["Requirement"]["properties"]
    assert "SHALL or MUST" in req_schema["text"]["description"]
    assert schema["$defs"]["Scenario"]["properties"]["when"]["minItems"] == 1


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


def test_render_requirement_exact() -> None:
    r = requirement(
        "Login",
        "The system SHALL log in.",
        scenario("Ok", given=["a user", "an account"], when=["creds sent"], then=["in", "cookie set"]),
    )
    assert render_requirement(r) == (
        "### Requirement: Login\nThe system SHALL log in.\n\n#### Scenario: Ok\n"
        "- **GIVEN** a user\n- **AND** an account\n- **WHEN** creds sent\n- **THEN** in\n- **AND** cookie set"
    )


def test_render_delta_sections_and_purpose() -> None:
    d = CapabilityDelta(
        capability="auth",
        purpose=PURPOSE,
        added=[requirement("A")],
        modified=[requirement("B")],
        removed=[{"name": "C", "reason": "obsolete"}],
        renamed=[{"from_name": "D", "to_name": "E"}],
    )
    text = render_delta(d)
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads == [
        "## Purpose",
        "## ADDED Requirements",
        "## MODIFIED Requirements",
        "## REMOVED Requirements",
        "## RENAMED Requirements",
    ]
    assert "### Requirement: C\n**Reason**: obsolete" in text
    assert "- FROM: `### Requirement: D`\n- TO: `### Requirement: E`" in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "## Purpose" not in render_delta(d, include_purpose=False)


def test_render_parse_roundtrip() -> None:
    d = CapabilityDelta(
        capability="auth",
        added=[requirement("A", None, scenario("s1"), scenario("s2"))],
        modified=[requirement("B")],
        removed=["C"],
        renamed=[{"from_name": "D", "to_name": "E"}],
    )
    p = parse_delta(render_delta(d), "auth")
    assert [b.name for b in p.added] == ["A"] and p.added[0].scenarios == ["s1", "s2"]
    assert [b.name for b in p.modified] == ["B"]
    assert p.removed == ["C"] and p.renamed == [("D", "E")]
    assert p.added[0].text == "The system SHALL a."
    assert p.added[0].raw == render_requirement(d.added[0])


# ------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------


def test_parse_spec_keeps_raw_blocks() -> None:
    text = AUTH.replace("### Requirement: Logout", "```\n### Requirement: Fenced\n```\n\n### Requirement: Logout")
    spec = parse_spec(text)
    assert spec.title == "auth Specification"
    assert spec.purpose == PURPOSE
    assert spec.names() == ["Login", "Logout", "Lockout"]
    assert "### Requirement: Fenced" in spec.requirements[0].raw  # fenced header is just content
    assert spec.requirements[2].raw == req("Lockout", "", "Fifth", "Reset")
    assert spec.requirements[0].scenarios == ["Valid login", "Bad password"]


def test_parse_spec_preamble_and_tail() -> None:
    spec = parse_spec(
        main_spec(req("A"), tail="\n## Notes\nkeep\n").replace("## Requirements\n", "## Requirements\nIntro.\n")
    )
    assert spec.preamble.strip() == "Intro."
    assert spec.after.strip() == "## Notes\nkeep"
    assert parse_spec("# t\n\n## Purpose\nx\n").requirements == []


def test_parse_delta_variants() -> None:
    text = (
        "# Delta\n\n### Requirement: Orphan\nx\n\n"
        "## ADDED Requirements\n\n" + req("A") + "\n\n"
        "## Removed Requirements\n\n- `### Requirement: R1`\n* ### Requirement: R2\n\n"
        "### Requirement: R3\n**Reason**: x\n\n"
        "## RENAMED Requirements\n\nFROM: `### Requirement: Old`\nTO: `### Requirement: New`\n"
        "- FROM: `### Requirement: Lone`\n\n"
        "## ADDED Requirements\n\n" + req("B ##") + "\n"
    )
    p = parse_delta(text, "auth")
    assert [b.name for b in p.added] == ["A", "B"]
    assert p.removed == ["R1", "R2", "R3"]
    assert p.renamed == [("Old", "New")]
    assert p.unpaired_renames == ["FROM 'Lone' has no matching TO"]
    assert p.orphaned == ["Orphan"]


def test_list_scenarios(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {},
        {
            "auth": "## ADDED Requirements\n\n"
            + req("A", "", "s1", "s2")
            + "\n\n## REMOVED Requirements\n\n### Requirement: X\n",
            "billing": "## MODIFIED Requirements\n\n" + req("Invoice", "", "Month end"),
        },
    )
    assert list_scenarios(osp.change_path(root, "c1")) == [
        ("auth", "A", "s1"),
        ("auth", "A", "s2"),
        ("billing", "Invoice", "Month end"),
    ]


# ------------------------------------------------------------------------------------------------
# Archive: good deltas
# ------------------------------------------------------------------------------------------------


def archive(
    tmp_path: Path, main: dict[str, str], deltas: dict[str, str], **kw: object
) -> tuple[Path, osp.ArchiveResult]:
    root = make_repo(tmp_path, main, deltas)
    assert check_change(root, "c1", strict=False) == []
    return root, archive_change(root, "c1", today=kw.get("today", TODAY))


def spec_text(root: Path, cap: str = "auth") -> str:
    return (root / "openspec" / "specs" / cap / "spec.md").read_text()


def test_added_appends_and_moves_change(tmp_path: Path) -> None:
    root, res = archive(tmp_path, {"auth": AUTH}, {"auth": "## ADDED Requirements\n\n" + req("Audit")})
    assert spec_text(root) == AUTH.rstrip("\n") + "\n\n" + req("Audit") + "\n"
    assert res.archive_path == root / "openspec/changes/archive/2026-01-15-c1"
    assert (res.archive_path / "specs/auth/spec.md").is_file()
    assert not osp.change_path(root, "c1").exists()
    assert res.counts["auth"].added == 1 and res.totals.added == 1 and res.capabilities == ["auth"]


def test_modified_replaces_whole_block_in_place(tmp_path: Path) -> None:
    new = req("Login", "The system MUST log in with a passkey.", "Valid login", "Bad password", "Passkey")
    root, res = archive(tmp_path, {"auth": AUTH}, {"auth": "## MODIFIED Requirements\n\n" + new})
    spec = parse_spec(spec_text(root))
    assert spec.names() == ["Login", "Logout", "Lockout"]
    assert spec.requirements[0].raw == new
    assert spec.requirements[1].raw == req("Logout") and spec.requirements[2].raw == req(
        "Lockout", "", "Fifth", "Reset"
    )
    assert res.counts["auth"].modified == 1


def test_removed_and_renamed(tmp_path: Path) -> None:
    delta = (
        "## REMOVED Requirements\n\n### Requirement: Logout\n**Reason**: x\n\n"
        "## RENAMED Requirements\n\n- FROM: `### Requirement: Lockout`\n"
        "- TO: `### Requirement: Account lock`\n"
    )
    root, res = archive(tmp_path, {"auth": AUTH}, {"auth": delta})
    spec = parse_spec(spec_text(root))
    assert spec.names() == ["Login", "Account lock"]
    assert spec.requirements[1].raw == req("Lockout", "", "Fifth", "Reset").replace("Lockout", "Account lock", 1)
    assert (res.counts["auth"].removed, res.counts["auth"].renamed) == (1, 1)


def test_all_kinds_together(tmp_path: Path) -> None:
    d = CapabilityDelta(
        capability="auth",
        added=[requirement("Two factor")],
        modified=[requirement("Sign in", None, scenario("Valid login"), scenario("Bad password"))],
        removed=["Logout"],
        renamed=[{"from_name": "Login", "to_name": "Sign in"}],
    )
    root, res = archive(tmp_path, {"auth": AUTH}, {"auth": render_delta(d)})
    assert parse_spec(spec_text(root)).names() == ["Sign in", "Lockout", "Two factor"]
    assert res.totals == osp.DeltaCounts(added=1, modified=1, removed=1, renamed=1)


def test_unrelated_text_is_byte_identical(tmp_path: Path) -> None:
    odd = (
        "### Requirement: Odd ##\nThe system SHALL keep   trailing spaces.   \n"
        "#### Scenario: s\n- **WHEN** a\n- **THEN** b"
    )
    fenced = req("Fenced") + "\n\n```\n### Requirement: Not real\n\n\n\nblank run kept\n```"
    base = main_spec(odd, fenced, req("Target"), tail="\n## Notes\nHand notes.\n")
    root, _ = archive(
        tmp_path,
        {"auth": base},
        {"auth": "## MODIFIED Requirements\n\n" + req("Target", "The system MUST t.")},
    )
    out = spec_text(root)
    assert odd in out and fenced in out and out.endswith("## Notes\nHand notes.\n")


def test_new_capability_carries_purpose(tmp_path: Path) -> None:
    d = CapabilityDelta(capability="audit-log", purpose=PURPOSE, added=[requirement("Record")])
    root, res = archive(tmp_path, {}, {"audit-log": render_delta(d)})
    assert spec_text(root, "audit-log") == (
        f"# audit-log Specification\n\n## Purpose\n{PURPOSE}\n\n## Requirements\n\n{render_requirement(d.added[0])}\n"
    )
    assert res.created == ["audit-log"]


def test_new_capability_without_purpose_gets_placeholder(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {}, {"search": "## ADDED Requirements\n\n" + req("Query")})
    assert any("no ## Purpose" in p for p in check_change(root, "c1"))  # strict flags it
    res = archive_change(root, "c1", today=TODAY)
    assert "TBD - created by archiving change c1. Update Purpose after archive." in spec_text(root, "search")
    assert res.warnings


def test_several_capabilities(tmp_path: Path) -> None:
    billing = main_spec(req("Invoice"), req("Refund"), title="billing")
    deltas = {
        "auth": "## ADDED Requirements\n\n" + req("Audit"),
        "billing": "## REMOVED Requirements\n\n- `### Requirement: Refund`\n",
        "notify": f"## Purpose\n\n{PURPOSE}\n\n## ADDED Requirements\n\n" + req("Email"),
    }
    root, res = archive(tmp_path, {"auth": AUTH, "billing": billing}, deltas)
    assert res.capabilities == ["auth", "billing", "notify"] and res.created == ["notify"]
    assert parse_spec(spec_text(root, "billing")).names() == ["Invoice"]
    assert res.totals == osp.DeltaCounts(added=2, removed=1)


def test_dated_change_id_keeps_its_name(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"auth": AUTH}, {"auth": "## ADDED Requirements\n\n" + req("Audit")}, "2025-03-04-x")
    assert archive_change(root, "2025-03-04-x", today=TODAY).archive_path.name == "2025-03-04-x"


def test_crlf_spec_stays_crlf(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {}, {"auth": "## ADDED Requirements\n\n" + req("Audit")})
    path = root / "openspec/specs/auth/spec.md"
    path.parent.mkdir(parents=True)
    path.write_bytes(AUTH.replace("\n", "\r\n").encode())
    archive_change(root, "c1", today=TODAY)
    data = path.read_bytes()
    assert b"\r\n### Requirement: Audit\r\n" in data and data.count(b"\n") == data.count(b"\r\n")


def test_write_change_specs(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"auth": AUTH}, {})
    ds = SpecDeltaSet(
        deltas=[
            CapabilityDelta(capability="auth", purpose=PURPOSE, added=[requirement("A")]),
            CapabilityDelta(capability="new-cap", purpose=PURPOSE, added=[requirement("B")]),
        ]
    )
    a, b = write_change_specs(root, "c1", ds)
    assert "## Purpose" not in a.read_text() and "## Purpose" in b.read_text()
    assert check_change(root, "c1") == []


# ------------------------------------------------------------------------------------------------
# Archive: bad deltas leave openspec/ untouched
# ------------------------------------------------------------------------------------------------

BAD = {
    "modified-missing": (
        {"auth": "## MODIFIED Requirements\n\n" + req("Nope")},
        ["'auth'", "'Nope'", "MODIFIED"],
    ),
    "removed-missing": (
        {"auth": "## REMOVED Requirements\n\n### Requirement: Nope\n"},
        ["'auth'", "'Nope'", "REMOVED"],
    ),
    "removed-typo": (
        {"auth": "## REMOVED Requirements\n\n### Requirement: logout\n"},
        ["'logout'", "did you mean 'Logout'"],
    ),
    "renamed-missing": (
        {"auth": "## RENAMED Requirements\n\n- FROM: `### Requirement: Nope`\n- TO: `### Requirement: X`\n"},
        ["'auth'", "'Nope'", "RENAMED"],
    ),
    "renamed-target-exists": (
        {"auth": "## RENAMED Requirements\n\n- FROM: `### Requirement: Login`\n- TO: `### Requirement: Logout`\n"},
        ["'Logout'", "already exists"],
    ),
    "renamed-unpaired": (
        {"auth": "## RENAMED Requirements\n\n- FROM: `### Requirement: Login`\n"},
        ["'Login'", "no matching TO"],
    ),
    "added-exists": (
        {"auth": "## ADDED Requirements\n\n" + req("Login", "", "Valid login", "Bad password")},
        ["'auth'", "'Login'", "already exists"],
    ),
    "added-exists-other-case": (
        {"auth": "## ADDED Requirements\n\n" + req("LOGIN")},
        ["'LOGIN'", "as 'Login'"],
    ),
    "duplicate-added": (
        {"auth": "## ADDED Requirements\n\n" + req("X") + "\n\n" + req("X")},
        ["'X'", "twice in ADDED"],
    ),
    "modified-and-removed": (
        {
            "auth": "## MODIFIED Requirements\n\n" + req("Logout") + "\n\n## REMOVED Requirements\n\n"
            "### Requirement: Logout\n"
        },
        ["'Logout'", "both MODIFIED and REMOVED"],
    ),
    "no-scenario": (
        {"auth": "## ADDED Requirements\n\n### Requirement: X\nThe system SHALL x.\n"},
        ["'X'", "no scenario"],
    ),
    "empty-scenario": (
        {"auth": "## ADDED Requirements\n\n### Requirement: X\nThe system SHALL x.\n\n#### Scenario: s\n"},
        ["'X'", "no scenario"],
    ),
    "no-text": (
        {"auth": "## ADDED Requirements\n\n### Requirement: X\n#### Scenario: s\n- **WHEN** a\n"},
        ["'X'", "text"],
    ),
    "modified-drops-scenario": (
        {"auth": "## MODIFIED Requirements\n\n" + req("Lockout", "", "Fifth")},
        ["'Lockout'", "'Reset'"],
    ),
    "new-cap-modified": (
        {"nope": "## MODIFIED Requirements\n\n" + req("X")},
        ["'nope'", "'X'", "does not exist"],
    ),
    "new-cap-removed": ({"nope": "## REMOVED Requirements\n\n### Requirement: X\n"}, ["'nope'", "'X'"]),
    "no-sections": ({"auth": "# just notes\n"}, ["'auth'", "no ## ADDED"]),
    "remove-last": (
        {"solo": "## REMOVED Requirements\n\n### Requirement: Only\n"},
        ["'solo'", "no requirements left"],
    ),
    "second-cap-bad": (
        {"auth": "## ADDED Requirements\n\n" + req("Fine"), "zzz": "## MODIFIED Requirements\n\n" + req("X")},
        ["'zzz'", "'X'"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_delta_raises_and_changes_nothing(case: str, tmp_path: Path) -> None:
    deltas, needles = BAD[case]
    root = make_repo(tmp_path, {"auth": AUTH, "solo": main_spec(req("Only"), title="solo")}, deltas)
    before, before_dirs = snapshot(root), dirs(root)
    problems = check_change(root, "c1", strict=False)
    assert problems
    with pytest.raises(ArchiveError) as exc:
        archive_change(root, "c1", today=TODAY)
    for needle in needles:
        assert needle in str(exc.value), str(exc.value)
    assert snapshot(root) == before and dirs(root) == before_dirs


def test_missing_change_and_no_deltas(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"auth": AUTH}, {})
    with pytest.raises(ArchiveError, match="no delta specs"):
        archive_change(root, "c1")
    with pytest.raises(ArchiveError, match="'other' not found"):
        archive_change(root, "other")


def test_stray_delta_file_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"auth": AUTH}, {"auth": "## ADDED Requirements\n\n" + req("A")})
    (osp.change_path(root, "c1") / "specs" / "auth.md").write_text("## ADDED Requirements\n")
    assert any("specs/auth.md" in p for p in check_change(root, "c1"))


def test_archive_target_exists(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"auth": AUTH}, {"auth": "## ADDED Requirements\n\n" + req("A")})
    (root / "openspec/changes/archive/2026-01-15-c1").mkdir(parents=True)
    before = snapshot(root)
    with pytest.raises(ArchiveError, match="already exists"):
        archive_change(root, "c1", today=TODAY)
    assert snapshot(root) == before


def test_strict_check_flags_missing_shall(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"auth": AUTH}, {"auth": "## ADDED Requirements\n\n" + req("A", "Users can do a.")})
    assert check_change(root, "c1", strict=False) == []
    assert any("SHALL or MUST" in p for p in check_change(root, "c1"))


def test_failed_write_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deltas = {
        "auth": "## ADDED Requirements\n\n" + req("A"),
        "zeta": f"## Purpose\n\n{PURPOSE}\n\n## ADDED Requirements\n\n" + req("B"),
        "zz": "## ADDED Requirements\n\n" + req("C"),
    }
    root = make_repo(tmp_path, {"auth": AUTH}, deltas)
    before, before_dirs = snapshot(root), dirs(root)
    real, calls = osp.changes._atomic_write, []

    def flaky(path: Path, text: str | bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, text)

    monkeypatch.setattr(osp.changes, "_atomic_write", flaky)
    with pytest.raises(OSError, match="disk full"):
        archive_change(root, "c1", today=TODAY)
    assert snapshot(root) == before and dirs(root) == before_dirs


def test_nested_capabilities_are_seen_by_explore_spec_and_the_change_folder(tmp_path: Path):
    """OpenSpec capability ids may nest (`identity/user-auth`); brownfield context must not miss them."""
    from sdd_harness.graph.infra.openspec import SpecDeltaSet, discover_specs, existing_specs, write_change_specs
    from sdd_harness.graph.infra.openspec.repair import existing_requirements

    main = tmp_path / "openspec" / "specs" / "identity" / "user-auth" / "spec.md"
    main.parent.mkdir(parents=True)
    main.write_text(
        "# user-auth Specification\n\n## Purpose\nLogin for people who hold an account with us.\n\n"
        "## Requirements\n### Requirement: Login\nThe system SHALL log users in.\n\n"
        "#### Scenario: ok\n- **WHEN** valid\n- **THEN** in\n",
        encoding="utf-8",
    )
    assert existing_requirements(tmp_path / "openspec") == {"identity/user-auth": {"Login"}}
    assert existing_specs(tmp_path / "openspec") == "identity/user-auth: Login"
    delta = {
        "capability": "Billing/Invoices",
        "purpose": "Invoices that customers receive for every paid order.",
        "added": [
            {
                "name": "Issue",
                "text": "The system SHALL issue invoices.",
                "scenarios": [{"name": "paid", "when": "an order is paid", "then": "an invoice exists"}],
            }
        ],
    }
    written = write_change_specs(tmp_path, "add-invoices", SpecDeltaSet.model_validate({"deltas": [delta]}))
    change = tmp_path / "openspec" / "changes" / "add-invoices"
    assert written == [change / "specs" / "billing" / "invoices" / "spec.md"]
    assert [cap for cap, _ in discover_specs(change)] == ["billing/invoices"]
