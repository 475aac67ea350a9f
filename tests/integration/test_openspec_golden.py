"""Golden tests: sdd_harness.graph.infra.openspec must merge exactly like the real `openspec archive <id> --yes`.

Each fixture builds a target repo twice in tmp_path; OpenSpec 1.13.2 archives one copy, our
`archive_change` the other, and the two `openspec/` trees (main specs and archived change) must be
byte-identical. Change folders produced by `render_delta` must pass `openspec validate --strict`.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # repo root: the package is not installed

from sdd_harness.graph.infra.openspec import (  # noqa: E402
    ArchiveError,
    CapabilityDelta,
    Requirement,
    Scenario,
    SpecDeltaSet,
    archive_change,
    check_change,
    render_delta,
    write_change_specs,
)
from tests.integration.openspec_cli import OPENSPEC_VERSION, openspec_bin, run_openspec  # noqa: E402

pytestmark = pytest.mark.openspec

PROPOSAL = """## Why

The product needs this change so that users get predictable, documented behaviour.

## What Changes

- Update the affected capability specs.

## Impact

- Specs only.
"""
TASKS = "## 1. Work\n\n- [x] 1.1 Do the work\n"
AUTH_PURPOSE = "Authenticate users so that only known people can reach the application data."


@pytest.fixture(scope="session")
def openspec_cli() -> Path:
    """The pinned CLI, installed into the cache dir on first use; skips the module if impossible."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node not installed: cannot run the OpenSpec reference CLI")
    binary = openspec_bin()
    if binary is None:
        pytest.skip(f"could not install @fission-ai/openspec@{OPENSPEC_VERSION} with npm (offline?)")
    return binary


# ------------------------------------------------------------------------------------------------
# Fixture builders
# ------------------------------------------------------------------------------------------------


def spec(title: str, purpose: str, *blocks: str, extra: str = "") -> str:
    """A main spec in the layout OpenSpec writes."""
    body = "\n\n".join(blocks)
    return f"# {title} Specification\n\n## Purpose\n{purpose}\n\n## Requirements\n\n{body}\n{extra}"


def req(name: str, text: str, *scenarios: tuple[str, str, str]) -> str:
    """A `### Requirement:` block with WHEN/THEN scenarios."""
    scen = "\n\n".join(f"#### Scenario: {s}\n- **WHEN** {w}\n- **THEN** {t}" for s, w, t in scenarios)
    return f"### Requirement: {name}\n{text}\n\n{scen}"


LOGIN = req("Login", "The system SHALL let users log in with a password.", ("Valid login", "valid creds", "ok"))
LOGOUT = req("Logout", "The system SHALL end the session on logout.", ("Click logout", "user clicks", "ended"))
LOCKOUT = req(
    "Lockout",
    "The system MUST lock an account after 5 failed attempts.",
    ("Fifth failure", "5 bad passwords", "account locked"),
    ("Reset", "admin resets", "account unlocked"),
)
AUTH = spec("auth", AUTH_PURPOSE, LOGIN, LOGOUT, LOCKOUT)
BILLING = spec(
    "billing",
    "Charge customers for their subscriptions and keep an auditable record of every invoice.",
    req(
        "Invoice",
        "The system SHALL issue an invoice per billing period.",
        ("Month end", "period ends", "invoice"),
    ),
    req("Refund", "The system SHALL refund within 14 days.", ("Refund asked", "customer asks", "money back")),
)


@dataclass
class Fixture:
    """One target repo: main specs before, the change's delta files, and the change id."""

    name: str
    main: dict[str, str]
    deltas: dict[str, str]
    change_id: str = "change-1"
    files: dict[str, str] = field(default_factory=dict)

    def build(self, root: Path) -> Path:
        for cap, text in self.main.items():
            _write(root / "openspec" / "specs" / cap / "spec.md", text)
        cdir = root / "openspec" / "changes" / self.change_id
        _write(cdir / "proposal.md", PROPOSAL)
        _write(cdir / "tasks.md", TASKS)
        for cap, text in self.deltas.items():
            _write(cdir / "specs" / cap / "spec.md", text)
        for rel, text in self.files.items():
            _write(root / rel, text)
        return root


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _rendered(**kwargs: object) -> str:
    return render_delta(CapabilityDelta.model_validate(kwargs))


BROWNFIELD = (
    "# Auth Service Specification\n\n"
    "Some intro text the team wrote before the purpose.\n\n"
    "## Purpose\n" + AUTH_PURPOSE + "\n\n"
    "## Requirements\n"
    "These requirements apply to the public API only.\n\n\n"
    "### Requirement: Login\n"
    "The system SHALL let users log in.   \n\n\n\n"
    "#### Scenario: Valid login\n"
    "- **WHEN** valid creds\n"
    "- **THEN** ok\n"
    "- **AND** a session cookie is set\n"
    "\n"
    "```text\n"
    "### Requirement: Not a real one\n"
    "\n\n\n"
    "keeps blank runs inside fences\n"
    "```\n"
    "### Requirement: Logout ##\n"
    "The system SHALL end the session.\n"
    "#### Scenario: Click logout\n"
    "- **WHEN** user clicks\n"
    "- **THEN** ended\n\n\n"
    "## Notes\n\n"
    "Hand-written notes after the requirements.\n\n\n"
)

FIXTURES = [
    Fixture(
        "added-brownfield-formatting",
        {"auth": BROWNFIELD},
        {"auth": "## ADDED Requirements\n\n" + LOCKOUT + "\n"},
    ),
    Fixture(
        "modified-scenario-edits",
        {"auth": AUTH},
        {
            "auth": _rendered(
                capability="auth",
                modified=[
                    Requirement(
                        name="Lockout",
                        text="The system MUST lock an account after 3 failed attempts within 10 minutes.",
                        scenarios=[
                            Scenario(
                                name="Fifth failure",
                                when=["3 bad passwords", "within 10 minutes"],
                                then=["account locked", "user is emailed"],
                            ),
                            Scenario(
                                name="Reset",
                                given=["a locked account"],
                                when=["admin resets"],
                                then=["account unlocked"],
                            ),
                            Scenario(
                                name="Window expires",
                                when=["2 failures then 11 minutes"],
                                then=["counter resets"],
                            ),
                        ],
                    )
                ],
            )
        },
    ),
    Fixture(
        "removed-header-and-bullet",
        {"auth": AUTH},
        {
            "auth": "## REMOVED Requirements\n\n### Requirement: Logout\n**Reason**: sessions expire now\n"
            "**Migration**: none\n\n- `### Requirement: Lockout`\n"
        },
    ),
    Fixture(
        "renamed-only",
        {"auth": AUTH},
        {"auth": _rendered(capability="auth", renamed=[{"from_name": "Logout", "to_name": "Sign out"}])},
    ),
    Fixture(
        "renamed-plus-modified",
        {"auth": AUTH},
        {
            "auth": "## RENAMED Requirements\n\n- FROM: `### Requirement: Login`\n"
            "- TO: `### Requirement: Sign in`\n\n## MODIFIED Requirements\n\n"
            + req(
                "Sign in",
                "The system SHALL let users sign in with a password or a passkey.",
                ("Valid login", "valid creds", "ok"),
                ("Passkey", "passkey presented", "ok"),
            )
            + "\n"
        },
    ),
    Fixture(
        "all-four-kinds",
        {"auth": AUTH},
        {
            "auth": _rendered(
                capability="auth",
                added=[
                    Requirement(
                        name="Two factor",
                        text="The system SHALL support TOTP codes.",
                        scenarios=[Scenario(name="Code ok", when=["valid code"], then=["in"])],
                    )
                ],
                modified=[
                    Requirement(
                        name="Sign out",
                        text="The system SHALL end every session on logout.",
                        scenarios=[Scenario(name="Click logout", when=["user clicks"], then=["all sessions ended"])],
                    )
                ],
                removed=[{"name": "Lockout", "reason": "Handled by the identity provider."}],
                renamed=[{"from_name": "Logout", "to_name": "Sign out"}],
            )
        },
    ),
    Fixture(
        "new-capability-with-purpose",
        {"auth": AUTH},
        {
            "audit-log": _rendered(
                capability="audit-log",
                purpose="Record security-relevant events so that operators can investigate incidents later.",
                added=[
                    Requirement(
                        name="Record logins",
                        text="The system SHALL record every login attempt.",
                        scenarios=[
                            Scenario(
                                name="Failed login",
                                when=["a login fails"],
                                then=["an audit entry is written"],
                            )
                        ],
                    )
                ],
            )
        },
    ),
    Fixture(
        # OpenSpec writes a "TBD - created by archiving change" Purpose; we match it byte for byte
        # (check_change(strict=True) flags it, because validate --strict rejects that spec).
        "new-capability-placeholder-purpose",
        {},
        {"search": "## ADDED Requirements\n\n" + req("Query", "The system SHALL search titles.", ("Hit", "q", "r"))},
        change_id="add-search",
    ),
    Fixture(
        "several-capabilities",
        {"auth": AUTH, "billing": BILLING},
        {
            "auth": "## ADDED Requirements\n\n" + req("Audit", "The system SHALL log logins.", ("L", "login", "log")),
            "billing": "## REMOVED Requirements\n\n### Requirement: Refund\n\n## MODIFIED Requirements\n\n"
            + req(
                "Invoice",
                "The system SHALL issue an invoice per period in PDF.",
                ("Month end", "ends", "pdf"),
            ),
            "notifications": "## Purpose\n\nTell users about account events through email and in-app "
            "messages without spamming them.\n\n## ADDED Requirements\n\n"
            + req("Email", "The system SHALL email on lockout.", ("Locked", "account locked", "email sent")),
        },
    ),
    Fixture(
        "crlf-brownfield",
        {"auth": AUTH.replace("\n", "\r\n")},
        {
            "auth": ("## ADDED Requirements\n\n" + req("Audit", "The system SHALL log.", ("L", "x", "y"))).replace(
                "\n", "\r\n"
            )
        },
    ),
    Fixture(
        "no-requirements-header",
        {"auth": f"# auth Specification\n\n## Purpose\n{AUTH_PURPOSE}\n"},
        {"auth": "## ADDED Requirements\n\n" + LOGIN + "\n"},
    ),
    Fixture(
        "crlf-no-requirements-header",
        {"auth": f"# auth Specification\r\n\r\n## Purpose\r\n{AUTH_PURPOSE}\r\n\r\n\r\n"},
        {"auth": "## ADDED Requirements\n\n" + LOGIN + "\n"},
    ),
    Fixture(
        "skip-specs-change",
        {"auth": AUTH},
        {},
        files={"openspec/changes/change-1/.openspec.yaml": "schema: spec-driven\nskip_specs: true\n"},
    ),
    Fixture(
        "nested-capability-and-dated-id",
        {"platform/session-layout": spec("platform/session-layout", AUTH_PURPOSE, LOGIN)},
        {"platform/session-layout": "## ADDED Requirements\n\n" + LOGOUT + "\n"},
        change_id="2025-01-02-session-tweak",
    ),
    Fixture(
        "repeated-sections-and-preamble-kept",
        {"auth": spec("auth", AUTH_PURPOSE, LOGIN, extra="\n## Notes\nkeep me\n")},
        {"auth": "## ADDED Requirements\n\n" + LOGOUT + "\n\n## ADDED Requirements\n\n" + LOCKOUT + "\n"},
    ),
]


def _tree(root: Path) -> dict[str, bytes]:
    base = root / "openspec"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fx", FIXTURES, ids=[f.name for f in FIXTURES])
def test_archive_matches_openspec(fx: Fixture, tmp_path: Path, openspec_cli: Path) -> None:
    ref, ours = fx.build(tmp_path / "ref"), fx.build(tmp_path / "ours")
    proc = run_openspec(["archive", fx.change_id, "--yes"], ref)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check_change(ours, fx.change_id, strict=False) == []
    result = archive_change(ours, fx.change_id)
    ref_tree, our_tree = _tree(ref), _tree(ours)
    assert sorted(our_tree) == sorted(ref_tree)
    for rel in ref_tree:
        assert our_tree[rel] == ref_tree[rel], f"{rel} differs:\n{ref_tree[rel]!r}\n{our_tree[rel]!r}"
    assert result.archive_path.is_dir()
    assert sorted(result.capabilities) == sorted(fx.deltas)
    archived = {p.split("/")[2] for p in ref_tree if p.startswith("changes/archive/")}
    assert archived == {result.archive_path.name}


BAD = [
    Fixture(
        "modified-missing",
        {"auth": AUTH},
        {"auth": "## MODIFIED Requirements\n\n" + req("Nope", "The system SHALL x.", ("a", "b", "c"))},
    ),
    Fixture(
        "added-existing",
        {"auth": AUTH},
        {"auth": "## ADDED Requirements\n\n" + req("Login", "The system SHALL differ.", ("a", "b", "c"))},
    ),
    Fixture(
        "renamed-missing",
        {"auth": AUTH},
        {"auth": "## RENAMED Requirements\n\n- FROM: `### Requirement: Nope`\n- TO: `### Requirement: New`\n"},
    ),
    Fixture(
        "duplicate-added",
        {"auth": AUTH},
        {
            "auth": "## ADDED Requirements\n\n"
            + req("X", "The system SHALL x.", ("a", "b", "c"))
            + "\n\n"
            + req("X", "The system SHALL y.", ("a", "b", "c"))
        },
    ),
    Fixture(
        "no-scenario",
        {"auth": AUTH},
        {"auth": "## ADDED Requirements\n\n### Requirement: X\nThe system SHALL x.\n"},
    ),
    Fixture(
        "modified-drops-scenario",
        {"auth": AUTH},
        {"auth": "## MODIFIED Requirements\n\n" + req("Lockout", "The system MUST lock.", ("Fifth failure", "b", "c"))},
    ),
    Fixture(
        "second-valid-first-bad",
        {"auth": AUTH, "billing": BILLING},
        {
            "auth": "## ADDED Requirements\n\n" + req("Audit", "The system SHALL log.", ("L", "x", "y")),
            "billing": "## REMOVED Requirements\n\n### Requirement: Refund\n\n## ADDED Requirements\n\n"
            + req("Refund", "The system SHALL x.", ("a", "b", "c")),
        },
    ),
]


@pytest.mark.parametrize("fx", BAD, ids=[f.name for f in BAD])
def test_bad_delta_rejected_like_openspec(fx: Fixture, tmp_path: Path, openspec_cli: Path) -> None:
    ref, ours = fx.build(tmp_path / "ref"), fx.build(tmp_path / "ours")
    before = _tree(ref)
    proc = run_openspec(["archive", fx.change_id, "--yes"], ref)
    assert proc.returncode != 0, proc.stdout
    assert _tree(ref) == before  # OpenSpec leaves everything untouched ...
    with pytest.raises(ArchiveError):
        archive_change(ours, fx.change_id)
    assert _tree(ours) == before  # ... and so do we


def _validate(root: Path, *args: str) -> dict:
    proc = run_openspec(["validate", *args, "--strict", "--json", "--no-interactive"], root)
    report = json.loads(proc.stdout)
    bad = [item for item in report["items"] if not item["valid"]]
    assert not bad and proc.returncode == 0, json.dumps(bad, indent=1) + proc.stderr
    return report


def _delta_set() -> SpecDeltaSet:
    """What a spec-phase model might return: one brownfield capability and one new one."""
    return SpecDeltaSet.model_validate(
        {
            "deltas": [
                {
                    "capability": "Auth",
                    "purpose": "```\nAuthenticate users so only known people reach the app data.\n```",
                    "added": [
                        {
                            "name": "### Requirement: Two factor",
                            "text": "The system SHALL require a TOTP code for admins.",
                            "scenarios": [
                                {
                                    "name": "Admin login",
                                    "given": ["an admin account"],
                                    "when": ["- **WHEN** the admin logs in", "the password is valid"],
                                    "then": ["a TOTP code is requested"],
                                }
                            ],
                        }
                    ],
                    "modified": [
                        {
                            "name": "Logout",
                            "text": "The system SHALL end all sessions on logout.",
                            "scenarios": [
                                {
                                    "name": "Click logout",
                                    "when": ["user clicks"],
                                    "then": ["all sessions ended"],
                                }
                            ],
                        }
                    ],
                    "removed": ["Lockout"],
                    "renamed": [{"from_name": "Login", "to_name": "Sign in"}],
                },
                {
                    "capability": "audit log",
                    "purpose": "Record security-relevant events so operators can investigate incidents.",
                    "added": [
                        {
                            "name": "Record logins",
                            "text": "The system MUST record every login attempt.",
                            "scenarios": [
                                {
                                    "name": "Failed login",
                                    "when": ["a login fails"],
                                    "then": ["an audit entry is written", "it holds the user id"],
                                }
                            ],
                        }
                    ],
                },
            ]
        }
    )


def test_rendered_change_validates_and_archives(tmp_path: Path, openspec_cli: Path) -> None:
    root = Fixture("rendered", {"auth": AUTH, "billing": BILLING}, {}, change_id="harden-auth").build(tmp_path)
    paths = write_change_specs(root, "harden-auth", _delta_set())
    assert "## Purpose" not in paths[0].read_text()  # existing capability: no Purpose in its delta
    assert "## Purpose" in paths[1].read_text()
    _validate(root, "harden-auth")
    assert check_change(root, "harden-auth") == []
    twin = tmp_path.parent / (tmp_path.name + "-ref")
    shutil.copytree(root, twin)
    archive_change(root, "harden-auth")
    assert run_openspec(["archive", "harden-auth", "--yes"], twin).returncode == 0
    assert _tree(root) == _tree(twin)
    report = _validate(root, "--specs")
    assert report["summary"]["totals"]["items"] == 3


def test_rendered_new_capability_only(tmp_path: Path, openspec_cli: Path) -> None:
    root = Fixture("greenfield", {}, {}, change_id="add-audit").build(tmp_path)
    write_change_specs(root, "add-audit", SpecDeltaSet(deltas=[_delta_set().deltas[1]]))
    _validate(root, "add-audit")
    archive_change(root, "add-audit")
    _validate(root, "--specs")


def test_placeholder_purpose_fails_strict_validate(tmp_path: Path, openspec_cli: Path) -> None:
    """The OpenSpec quirk our strict check_change exists for."""
    fx = FIXTURES[7]
    root = fx.build(tmp_path)
    assert any("Purpose" in p for p in check_change(root, fx.change_id))
    archive_change(root, fx.change_id)
    proc = run_openspec(["validate", "--specs", "--strict", "--json", "--no-interactive"], root)
    assert proc.returncode != 0
