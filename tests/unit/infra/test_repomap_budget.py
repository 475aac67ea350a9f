"""What each phase is shown on a repository too big to show whole: the relevant part, within budget."""

from __future__ import annotations

from pathlib import Path

from sdd_harness.graph.infra.repomap import repo_map


def big_repo(root: Path, modules: int = 60) -> Path:
    for i in range(modules):
        pkg = root / f"pkg{i % 6}"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / f"mod{i}.py").write_text(f"def helper_{i}(value: int) -> int:\n    return value + {i}\n")
    (root / "billing").mkdir()
    invoices = root / "billing" / "invoices.py"
    invoices.write_text("def invoice_total(lines: list[int]) -> int:\n    return sum(lines)\n")
    return root


def test_a_small_repo_is_mapped_whole(demo_repo: Path):
    text = repo_map(demo_repo, 3000, "add slugify")
    assert "textkit/counting.py" in text and "def truncate(" in text and "Other files" not in text


def test_a_big_repo_map_leads_with_the_files_the_request_is_about(tmp_path: Path):
    root = big_repo(tmp_path)
    text = repo_map(root, 1200, "Round the invoice total in billing/invoices.py")

    assert len(text) <= 1300
    assert text.startswith("billing/invoices.py\n  def invoice_total(")  # first, with its signatures
    assert "pkg0/: " in text  # the rest by folder, names only
    assert "def helper_0(" not in text


def test_a_repo_too_big_for_names_is_shown_as_its_layout_not_the_first_folders(tmp_path: Path):
    root = big_repo(tmp_path, modules=240)
    for i in range(40):
        (root / f"zone{i}").mkdir()
        (root / f"zone{i}" / "a.py").write_text("X = 1\n")
    text = repo_map(root, 1000, "Round the invoice total in billing/invoices.py")

    assert len(text) <= 1100
    assert text.startswith("billing/invoices.py")
    assert "pkg0/ (40)" in text and "zone39/ (1)" in text  # every folder, the last ones too, with its size
    assert "mod0.py" not in text  # no file names cut off alphabetically
