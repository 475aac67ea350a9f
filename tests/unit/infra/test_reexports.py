"""The request's re-exports are added to a candidate in code, from the module that defines each name."""

from __future__ import annotations

from sdd_harness.graph.infra.reexports import with_reexports
from sdd_harness.graph.infra.request_items import extract

INIT = '"""scores."""\n\nfrom scores.stats import mean, median\n\n__all__ = ["mean", "median"]\n'
STATS = "class EmptyDataError(ValueError):\n    pass\n\n\ndef mean(values):\n    return 1\n"
REQUEST = "Re-export `EmptyDataError` from `scores/__init__.py` and add it to `__all__` next to `mean` and `median`."
REPO = {"scores/__init__.py": INIT, "scores/stats.py": "def mean(values):\n    return 1\n"}


def reexport(files: dict[str, str], allowed: list[str], request: str = REQUEST) -> dict[str, str]:
    return with_reexports(
        files,
        allowed,
        extract(request).reexports,
        REPO.get,
        lambda folder: [rel for rel in REPO if rel.startswith(f"{folder}/")],
    )


def test_a_missing_reexport_is_added_to_the_existing_import_and_to_all() -> None:
    out = reexport({"scores/stats.py": STATS}, ["scores/stats.py", "scores/__init__.py"])
    assert out["scores/stats.py"] == STATS
    assert "from scores.stats import mean, median, EmptyDataError\n" in out["scores/__init__.py"]
    assert '__all__ = ["mean", "median", "EmptyDataError"]' in out["scores/__init__.py"]


def test_nothing_is_guessed() -> None:
    allowed = ["scores/stats.py", "scores/__init__.py"]
    assert reexport({"scores/stats.py": REPO["scores/stats.py"]}, allowed) == {
        "scores/stats.py": REPO["scores/stats.py"]
    }
    assert reexport({"scores/stats.py": STATS}, ["scores/stats.py"]) == {"scores/stats.py": STATS}  # not its file
    done = INIT.replace("mean, median", "mean, median, EmptyDataError").replace(
        '"median"]', '"median", "EmptyDataError"]'
    )
    out = reexport({"scores/stats.py": STATS, "scores/__init__.py": done}, allowed)
    assert out["scores/__init__.py"] == done  # the model already did it: left as it is


def test_a_new_import_line_goes_after_the_docstring_when_the_package_imports_nothing_yet() -> None:
    repo = {"pkg/__init__.py": '"""pkg."""\n', "pkg/colors.py": "def to_hex(rgb):\n    return ''\n"}
    request = "Add `to_hex(rgb)` to `pkg/colors.py`. Re-export `to_hex` from `pkg/__init__.py`."
    out = with_reexports({}, list(repo), extract(request).reexports, repo.get, lambda folder: list(repo))
    assert out["pkg/__init__.py"] == '"""pkg."""\n\nfrom pkg.colors import to_hex\n'
