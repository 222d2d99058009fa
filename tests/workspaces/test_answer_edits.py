"""An engine without tools: its answer made into the edit of a real task worktree — a patch applied,
one fenced block as the one file's content, or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parallelai.engines.base import edits_files
from parallelai.engines.registry import default_registry
from parallelai.workspaces import TaskWorkspaces
from parallelai.workspaces.answer_edits import FencedBlock, edit_from_answer, fenced_blocks
from tests.workspaces._repo import git

pytestmark = pytest.mark.anyio

APP = "def main():\n    return 1\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "app.py").write_text(APP)
    (root / "pkg" / "util.py").write_text("VALUE = 1\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "first")
    return root


@pytest.fixture
async def workspaces(repo: Path) -> AsyncIterator[TaskWorkspaces]:
    planned = await TaskWorkspaces.plan(repo, "r1")
    await planned.create("t1")
    try:
        yield planned
    finally:
        await planned.remove_all()


async def changed(workspaces: TaskWorkspaces) -> list[str]:
    return (await workspaces.capture("t1")).paths


PATCH = """\
--- a/app.py
+++ b/app.py
@@ -1,2 +1,2 @@
 def main():
-    return 1
+    return 2
"""


async def test_a_diff_in_a_fenced_block_is_applied_in_the_worktree(workspaces: TaskWorkspaces) -> None:
    answer = f"Here is the fix:\n\n```diff\n{PATCH}```\n\nThat makes main return 2."

    problem = await edit_from_answer(workspaces.path("t1"), answer, ["app.py"])

    assert problem is None
    assert (workspaces.path("t1") / "app.py").read_text() == "def main():\n    return 2\n"
    assert await changed(workspaces) == ["app.py"]


async def test_a_whole_answer_that_is_a_diff_without_prefixes_and_miscounted_hunks_is_applied(
    workspaces: TaskWorkspaces,
) -> None:
    # No a/ b/ prefixes, and hunk counts a model got wrong: --recount takes the lines as they are.
    answer = "--- app.py\n+++ app.py\n@@ -1,7 +1,9 @@\n def main():\n-    return 1\n+    return 3"

    problem = await edit_from_answer(workspaces.path("t1"), answer, [])

    assert problem is None
    assert (workspaces.path("t1") / "app.py").read_text() == "def main():\n    return 3\n"


async def test_every_patch_block_of_an_answer_is_applied_new_and_deleted_files_too(
    workspaces: TaskWorkspaces,
) -> None:
    # Git headers without their `new file mode` / `deleted file mode` lines, as models write them.
    new_file = "diff --git a/NOTES.md b/NOTES.md\n--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1 @@\n+notes\n"
    gone = "diff --git a/pkg/util.py b/pkg/util.py\n--- a/pkg/util.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-VALUE = 1\n"
    answer = f"```patch\n{PATCH}```\nand a new file, an old one gone:\n```\n{new_file}{gone}```\n"

    problem = await edit_from_answer(workspaces.path("t1"), answer, [])

    assert problem is None
    assert sorted(await changed(workspaces)) == ["NOTES.md", "app.py", "pkg/util.py"]
    assert (workspaces.path("t1") / "NOTES.md").read_text() == "notes\n"
    assert not (workspaces.path("t1") / "pkg" / "util.py").exists()


async def test_a_patch_s_paths_are_relative_to_the_run_s_directory(repo: Path) -> None:
    workspaces = await TaskWorkspaces.plan(repo / "pkg", "r2")
    await workspaces.create("t1")
    try:
        answer = "```diff\n--- a/util.py\n+++ b/util.py\n@@ -1 +1 @@\n-VALUE = 1\n+VALUE = 2\n```"

        problem = await edit_from_answer(workspaces.path("t1"), answer, ["util.py"], workspaces.base.subdir)

        assert problem is None
        assert await changed(workspaces) == ["pkg/util.py"]
    finally:
        await workspaces.remove_all()


async def test_one_fenced_block_is_the_content_of_the_task_s_one_file(workspaces: TaskWorkspaces) -> None:
    answer = "The whole file:\n\n```python\ndef main():\n    return 4\n```\n"

    problem = await edit_from_answer(workspaces.path("t1"), answer, ["app.py"])

    assert problem is None
    assert (workspaces.path("t1") / "app.py").read_text() == "def main():\n    return 4\n"
    assert await changed(workspaces) == ["app.py"]


@pytest.mark.parametrize(
    ("answer", "files"),
    [
        pytest.param("main already returns 1; nothing to change.", ["app.py"], id="prose"),
        pytest.param("```python\nx = 1\n```\n```python\ny = 2\n```", ["app.py"], id="two-blocks"),
        pytest.param("```python\nx = 1\n```", ["app.py", "pkg/util.py"], id="two-files"),
        pytest.param("```python\nx = 1\n```", ["*.py"], id="a-glob"),
        pytest.param("```python\nx = 1\n```", [], id="no-file"),
    ],
)
async def test_an_answer_that_is_neither_a_patch_nor_one_file_s_content_changes_nothing(
    workspaces: TaskWorkspaces, answer: str, files: list[str]
) -> None:
    problem = await edit_from_answer(workspaces.path("t1"), answer, files)

    assert problem is None
    assert await changed(workspaces) == []


async def test_a_patch_that_does_not_apply_is_an_error_naming_the_file_and_changes_nothing(
    workspaces: TaskWorkspaces,
) -> None:
    wrong = PATCH.replace("-    return 1", "-    return 7")
    other = "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@ -1 +1 @@\n-VALUE = 1\n+VALUE = 2\n"
    answer = f"```diff\n{other}```\n```diff\n{wrong}```"

    problem = await edit_from_answer(workspaces.path("t1"), answer, [])

    assert problem is not None
    assert "does not apply" in problem
    assert "app.py" in problem
    assert "patch failed" in problem  # git's own words
    assert await changed(workspaces) == []  # all or nothing: the patch that applied was not kept


async def test_an_answer_replaces_what_an_earlier_answer_left_in_the_worktree(
    workspaces: TaskWorkspaces,
) -> None:
    top = workspaces.path("t1")
    (top / "stray.txt").write_text("left by an earlier answer\n")
    assert await edit_from_answer(top, f"```diff\n{PATCH}```", []) is None

    again = PATCH.replace("return 2", "return 5")  # against the file as it started, as the model saw it
    problem = await edit_from_answer(top, f"```diff\n{again}```", [])

    assert problem is None
    assert (top / "app.py").read_text() == "def main():\n    return 5\n"
    assert await changed(workspaces) == ["app.py"]


def test_fenced_blocks_are_found_by_their_fences_and_inline_backticks_are_not_one() -> None:
    text = (
        "```x``` is inline\n"
        "````markdown\nan inner fence:\n```\nstill inside\n````\n"
        "~~~ Diff {.numberLines}\n--- a\n~~~\n"
        "```\nleft open"
    )

    assert fenced_blocks(text) == [
        FencedBlock("markdown", "an inner fence:\n```\nstill inside\n"),
        FencedBlock("diff", "--- a\n"),
        FencedBlock("", "left open"),
    ]


def test_api_engines_and_echo_only_answer_and_the_agents_and_command_edit_files() -> None:
    registry = default_registry()
    editing = {name for name in registry.names() if edits_files(registry.create(name))}

    assert editing >= {"claude-code", "codex", "copilot", "gemini-cli", "cursor", "acp", "command"}
    assert editing.isdisjoint({"openai", "anthropic", "ollama", "echo"})
