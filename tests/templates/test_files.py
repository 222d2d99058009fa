"""File selection: confined to the root, .gitignore respected, binaries and large files skipped, fan-out capped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parallelai.errors import FileSelectionError
from parallelai.templates.files import select_files


def paths(root: Path, *globs: str, exclude: tuple[str, ...] = (), **limits: int) -> list[str]:
    return [selected.path for selected in select_files(root, globs, exclude, **limits).files]


def test_globs_are_relative_to_the_root_and_star_matches_at_any_depth(repo: Path) -> None:
    assert paths(repo, "*.js") == ["web/client.js"]
    assert paths(repo, "app/*.py") == ["app/__init__.py", "app/models.py", "app/views.py"]
    assert paths(repo, "./**/models.py", exclude=("legacy/**",)) == ["app/models.py"]


def test_gitignored_files_and_the_git_directory_are_never_selected(repo: Path) -> None:
    (repo / ".git").mkdir()
    (repo / ".git" / "hook.py").write_text("x = 1\n")
    (repo / "web" / ".gitignore").write_text("vendor.js\n")
    (repo / "web" / "vendor.js").write_text("var x;\n")

    selected = paths(repo, "**/*.py", "**/*.js")

    assert "build/generated.py" not in selected
    assert ".git/hook.py" not in selected
    assert "web/vendor.js" not in selected
    assert "web/client.js" in selected


@pytest.mark.parametrize("glob", ["../*.py", "app/../../*.py", "/etc/*", "~/secrets/*"])
def test_a_glob_that_could_leave_the_root_is_refused(repo: Path, glob: str) -> None:
    with pytest.raises(FileSelectionError, match=r"escapes the workspace root|is absolute"):
        select_files(repo, [glob])


def test_symlinks_never_lead_out_of_the_root(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("KEY = 'x'\n")
    os.symlink(outside, repo / "linked_dir")
    os.symlink(outside / "secret.py", repo / "app" / "secret.py")

    selection = select_files(repo, ["**/*.py"])

    assert all("secret" not in selected.path for selected in selection.files)
    assert selection.skipped["app/secret.py"] == "a symlink pointing outside the workspace"


def test_binary_and_oversized_files_are_skipped_with_the_reason(repo: Path) -> None:
    (repo / "app" / "blob.py").write_bytes(b"\x00\x01binary")
    (repo / "app" / "huge.py").write_text("x = 1\n" * 200)

    selection = select_files(repo, ["app/*.py"], max_bytes=1000)

    assert selection.skipped == {"app/blob.py": "binary", "app/huge.py": "1200 bytes, over the 1000-byte cap"}


def test_more_matches_than_the_cap_is_refused_with_the_count(repo: Path) -> None:
    with pytest.raises(FileSelectionError, match=r"\*\*/\*\.py matched 4 files, more than the limit of 3"):
        select_files(repo, ["**/*.py"], max_files=3)
