"""Scope: the changed paths a task's declared files and globs do not cover."""

from __future__ import annotations

import pytest

from parallelai.errors import FileSelectionError
from parallelai.workspaces import describe_violation, outside_scope

CHANGED = ["src/app.py", "src/lib/util.py", "tests/test_app.py", "docs/guide.md", "README.md"]


def test_a_file_scope_allows_that_file_only() -> None:
    assert outside_scope(CHANGED, ["src/app.py"]) == [
        "src/lib/util.py",
        "tests/test_app.py",
        "docs/guide.md",
        "README.md",
    ]


def test_globs_cover_directories_and_extensions_at_any_depth() -> None:
    assert outside_scope(CHANGED, ["tests/**", "*.md"]) == ["src/app.py", "src/lib/util.py"]
    assert outside_scope(CHANGED, ["src/", "tests/", "*.md"]) == []


def test_scope_is_relative_to_the_runs_workdir_and_nothing_outside_it_is_in_scope() -> None:
    changed = ["service/src/app.py", "service/README.md", "other/app.py"]

    assert outside_scope(changed, ["src/**"], prefix="service") == ["service/README.md", "other/app.py"]


def test_an_empty_scope_allows_nothing() -> None:
    assert outside_scope(["a.py"], []) == ["a.py"]


@pytest.mark.parametrize("pattern", ["../elsewhere/**", "/etc/passwd"])
def test_a_scope_reaching_outside_the_workspace_is_refused(pattern: str) -> None:
    with pytest.raises(FileSelectionError):
        outside_scope(["a.py"], [pattern])


def test_the_violation_names_the_files_and_the_scope() -> None:
    message = describe_violation(["app.py", "setup.cfg"], ["pkg/util.py"])

    assert message.startswith("changed 2 files outside its scope (pkg/util.py): app.py, setup.cfg;")


def test_a_long_violation_names_ten_files_and_counts_the_rest() -> None:
    outside = [f"f{number}.py" for number in range(13)]

    message = describe_violation(outside, ["a.py"])

    assert "f9.py and 3 others;" in message
    assert "f10.py" not in message
