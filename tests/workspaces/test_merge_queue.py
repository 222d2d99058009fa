"""The merge queue on real repositories: task patches become one commit each on `parallelai/<run>`."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from parallelai.errors import WorkspaceError
from parallelai.workspaces.merge_queue import Conflict, Merged, MergeQueue, commit_message

pytestmark = pytest.mark.anyio

RUN = "r20261205-101500-abcd"
BRANCH = f"refs/heads/parallelai/{RUN}"
DEADLINE_S = 60.0


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    # GIT_OPTIONAL_LOCKS=0: the test's own reads must not refresh the user's index either.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@x"}
    env |= {"GIT_COMMITTER_NAME": "u", "GIT_COMMITTER_EMAIL": "u@x"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, input=stdin, capture_output=True, check=True)
    return done.stdout.decode("utf-8", "surrogateescape")


def blob(repo: Path, spec: str) -> bytes:
    return git(repo, "cat-file", "blob", spec).encode("utf-8", "surrogateescape")


def lines(tag: str, count: int = 12) -> str:
    return "".join(f"{tag} line {n}\n" for n in range(1, count + 1))


@dataclass
class UserRepo:
    """The user's repository: a checkout on `main` with a staged and an unstaged change of their own."""

    path: Path
    base: str
    scratch: Path  # a separate clone where the tests make patches the way an agent's worktree would

    def patch(self, edits: dict[str, bytes | None]) -> str:
        """`git diff --binary` against the base of writing (or, for None, deleting) these files."""
        for name, content in edits.items():
            target = self.scratch / name
            if content is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        git(self.scratch, "add", "-A")
        patch = git(self.scratch, "diff", "--cached", "--binary", "--full-index", self.base)
        git(self.scratch, "reset", "-q", "--hard", self.base)
        return patch

    def tree_of(self, edits: dict[str, bytes | None]) -> str:
        """The tree the base becomes with all of `edits` made at once."""
        git(self.scratch, "apply", "--index", stdin=self.patch(edits).encode("utf-8", "surrogateescape"))
        tree = git(self.scratch, "write-tree").strip()
        git(self.scratch, "reset", "-q", "--hard", self.base)
        return tree

    def untouched_state(self) -> tuple[str, str, str, str, str]:
        """What the user sees: HEAD, their branch, the index file's bytes, staged and unstaged diffs."""
        index = hashlib.sha256((self.path / ".git" / "index").read_bytes()).hexdigest()
        return (
            git(self.path, "rev-parse", "HEAD"),
            git(self.path, "symbolic-ref", "HEAD"),
            index,
            git(self.path, "diff", "--cached"),
            git(self.path, "diff"),
        )

    def task_ids_on_branch(self) -> list[str]:
        out = git(self.path, "log", "--reverse", "--format=%(trailers:key=Parallelai-Task,valueonly)", BRANCH)
        return [line for line in out.splitlines() if line]


@pytest.fixture
def repo(tmp_path: Path) -> UserRepo:
    path = tmp_path / "user"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for i in range(60):
        (path / f"src/f{i:02}.txt").parent.mkdir(exist_ok=True)
        (path / f"src/f{i:02}.txt").write_text(lines(f"f{i:02}"))
    (path / "logo.bin").write_bytes(bytes(range(256)) * 4)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    base = git(path, "rev-parse", "HEAD").strip()
    scratch = tmp_path / "scratch"
    git(tmp_path, "clone", "-q", str(path), str(scratch))
    # The user keeps working while the run goes on: one staged and one unstaged change.
    (path / "src/f00.txt").write_text("staged by the user\n")
    git(path, "add", "src/f00.txt")
    (path / "src/f01.txt").write_text("unstaged by the user\n")
    return UserRepo(path, base, scratch)


def edit_line(name: str, line: int, new: str) -> dict[str, bytes | None]:
    tag = Path(name).stem
    content = lines(tag).replace(f"{tag} line {line}\n", f"{new}\n")
    return {name: content.encode()}


async def test_fifty_concurrent_merges_give_one_commit_each_in_merge_order_and_the_union_of_the_edits(
    repo: UserRepo,
) -> None:
    edits = {f"t{i:02}": edit_line(f"src/f{i:02}.txt", 5, f"task {i} was here") for i in range(50)}
    edits["t07"] |= {"src/new/from-t07.txt": b"a new file\n"}
    edits["t08"] |= {"src/f59.txt": None}
    patches = {task_id: repo.patch(edit) for task_id, edit in edits.items()}
    expected_tree = repo.tree_of({path: content for edit in edits.values() for path, content in edit.items()})
    before = repo.untouched_state()
    returned: list[str] = []

    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:

        async def merge(task_id: str) -> None:
            result = await queue.merge(
                task_id, patches[task_id], engine="claude-code", prompt=f"edit {task_id}"
            )
            assert isinstance(result, Merged)
            returned.append(task_id)

        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as group:
                for task_id in reversed(list(patches)):  # not the order the patches were made in
                    group.start_soon(merge, task_id)
        diff = await queue.diff()
        head = queue.head
        merged = await queue.merged()

    assert git(repo.path, "rev-parse", f"{BRANCH}^{{tree}}").strip() == expected_tree
    assert diff == git(repo.path, "diff", "--binary", "--full-index", repo.base, expected_tree)
    assert git(repo.path, "rev-parse", BRANCH).strip() == head
    assert git(repo.path, "rev-list", "--count", f"{repo.base}..{BRANCH}").strip() == "50"
    assert repo.task_ids_on_branch() == returned
    assert [task.task_id for task in merged] == returned
    assert sorted(returned) == sorted(patches)
    assert repo.untouched_state() == before


async def test_each_commit_message_carries_the_task_id_engine_and_prompt_summary(repo: UserRepo) -> None:
    patch = repo.patch(edit_line("src/f03.txt", 2, "renamed"))
    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        await queue.merge(
            "rename-3", patch, engine="codex", prompt="Rename the helper\nin f03 and its callers"
        )

    message = git(repo.path, "log", "-1", "--format=%B", BRANCH)
    assert message.splitlines()[0] == "rename-3: Rename the helper in f03 and its callers"
    assert "Parallelai-Task: rename-3" in message
    assert "Parallelai-Engine: codex" in message
    assert f"Parallelai-Run: {RUN}" in message


def test_a_long_prompt_is_summarised_on_the_subject_line() -> None:
    subject = commit_message(RUN, "t1", "echo", "word " * 100).splitlines()[0]
    assert subject.startswith("t1: word word")
    assert subject.endswith("…")
    assert len(subject) <= len("t1: ") + 60


async def test_a_patch_touching_lines_already_changed_is_a_conflict_that_leaves_the_branch_alone(
    repo: UserRepo,
) -> None:
    ours = repo.patch(edit_line("src/f10.txt", 6, "first task's line 6"))
    theirs = repo.patch(
        edit_line("src/f10.txt", 6, "second task's line 6") | edit_line("src/f11.txt", 1, "x")
    )
    later = repo.patch(edit_line("src/f12.txt", 1, "third task"))
    before = repo.untouched_state()

    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        first = await queue.merge("first", ours, engine="echo", prompt="one")
        head = queue.head
        second = await queue.merge("second", theirs, engine="echo", prompt="two")
        assert queue.head == head
        assert git(repo.path, "rev-parse", BRANCH).strip() == head
        third = await queue.merge("third", later, engine="echo", prompt="three")

    assert isinstance(first, Merged)
    assert isinstance(second, Conflict)
    assert second.paths == ("src/f10.txt",)
    assert "+second task's line 6" in second.hunks
    assert "src/f11.txt" not in second.hunks  # only the sections that conflict, for the re-run prompt
    assert second.head == head
    # The conflict left nothing behind: the next task merges on the first one's commit.
    assert isinstance(third, Merged)
    assert git(repo.path, "rev-parse", f"{third.commit}^").strip() == head
    assert repo.task_ids_on_branch() == ["first", "third"]
    assert "second task" not in git(repo.path, "show", f"{BRANCH}:src/f11.txt") + git(
        repo.path, "show", f"{BRANCH}:src/f10.txt"
    )
    assert repo.untouched_state() == before


async def test_a_conflict_names_a_path_git_has_to_quote(repo: UserRepo) -> None:
    name = 'src/café "menu".txt'
    ours = repo.patch({name: b"ours\n"})
    theirs = repo.patch({name: b"theirs\n", "src/f20.txt": b"unrelated\n"})
    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        await queue.merge("a", ours, engine="echo", prompt="a")
        result = await queue.merge("b", theirs, engine="echo", prompt="b")

    assert isinstance(result, Conflict)
    assert result.paths == (name,)
    assert "+theirs" in result.hunks
    assert "unrelated" not in result.hunks


async def test_edits_a_few_lines_apart_in_one_file_both_merge(repo: UserRepo) -> None:
    # Two lines apart: each patch's context holds the other's line, so a plain apply would fail.
    upper = repo.patch(edit_line("src/f30.txt", 4, "upper edit"))
    lower = repo.patch(edit_line("src/f30.txt", 6, "lower edit"))
    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        results = [
            await queue.merge("upper", upper, engine="echo", prompt="u"),
            await queue.merge("lower", lower, engine="echo", prompt="l"),
        ]

    assert all(isinstance(result, Merged) for result in results)
    merged = git(repo.path, "show", f"{BRANCH}:src/f30.txt")
    assert "upper edit\n" in merged
    assert "lower edit\n" in merged


async def test_binary_patches_merge(repo: UserRepo) -> None:
    changed_logo = bytes(reversed(range(256))) * 4
    new_image = b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(200))
    patch = repo.patch({"logo.bin": changed_logo, "img/new.png": new_image})
    assert "GIT binary patch" in patch

    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        result = await queue.merge("art", patch, engine="echo", prompt="redraw")

    assert isinstance(result, Merged)
    assert blob(repo.path, f"{BRANCH}:logo.bin") == changed_logo
    assert blob(repo.path, f"{BRANCH}:img/new.png") == new_image


async def test_a_queue_opened_again_for_the_same_run_continues_from_the_branch_head(repo: UserRepo) -> None:
    patches = [repo.patch(edit_line(f"src/f4{i}.txt", 3, f"edit {i}")) for i in range(3)]
    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        await queue.merge("t0", patches[0], engine="echo", prompt="zero")
        await queue.merge("t1", patches[1], engine="echo", prompt="one")
        head_before_restart = queue.head

    async with MergeQueue.open(repo.path, RUN, repo.base) as restarted:
        assert restarted.head == head_before_restart
        assert [task.task_id for task in await restarted.merged()] == ["t0", "t1"]
        result = await restarted.merge("t2", patches[2], engine="echo", prompt="two")

    assert isinstance(result, Merged)
    assert git(repo.path, "rev-parse", f"{result.commit}^").strip() == head_before_restart
    assert repo.task_ids_on_branch() == ["t0", "t1", "t2"]


async def test_an_empty_patch_commits_nothing(repo: UserRepo) -> None:
    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        result = await queue.merge("idle", "", engine="echo", prompt="nothing to do")
        assert queue.head == repo.base

    assert result == Merged("idle", None)


async def test_a_malformed_patch_is_an_error_and_the_branch_stays(repo: UserRepo) -> None:
    async with MergeQueue.open(repo.path, RUN, repo.base) as queue:
        with pytest.raises(WorkspaceError, match="could not read its patch"):
            await queue.merge(
                "bad",
                "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\nnot a hunk\n",
                engine="e",
                prompt="p",
            )
        assert queue.head == repo.base


async def test_an_existing_branch_that_does_not_descend_from_the_base_is_refused(repo: UserRepo) -> None:
    git(
        repo.path,
        "branch",
        f"parallelai/{RUN}",
        git(repo.path, "commit-tree", "-m", "elsewhere", f"{repo.base}^{{tree}}").strip(),
    )
    with pytest.raises(WorkspaceError, match="does not descend from the run's base"):
        async with MergeQueue.open(repo.path, RUN, repo.base):
            pass
