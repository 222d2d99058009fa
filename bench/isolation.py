"""Per-task isolation on a large repository: parallelai's workspaces and merge queue next to bare git.

One generated repository of FILES files (100 per directory, 30 lines each), committed once. Then,
for each of TASKS tasks, one after the other, both sides do the same work on a distinct file:

- *ours*: `TaskWorkspaces.create` (a detached worktree at the run's base), the edit,
  `TaskWorkspaces.capture` (stage everything, binary diff + numstat against the base) and
  `MergeQueue.merge` (apply on the integration branch, commit);
- *bare git*: `git worktree add --detach`, the edit, `git diff --binary`, `git apply --index` in an
  integration worktree made beforehand (not timed), which is where a hand-run merge would apply.

What is timed is the sum over the tasks of create + edit + capture + merge; removing the worktrees
is not (neither side's cost of isolation is in it). A second measurement merges MERGES
non-conflicting task patches (taken against the base, on distinct files) through one `MergeQueue`,
next to the same git plumbing run from a plain loop of `subprocess.run`: the floor for that work.

    .venv/bin/python -m bench.isolation          # 10,000 files, 10 tasks, 50 merges
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUN_ID = "r20261205-000000-bench"
_LINES = 30


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    env_identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    done = subprocess.run(
        ["git", *env_identity, *args], cwd=cwd, input=stdin, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8", "surrogateescape").strip()


def _name(i: int) -> str:
    return f"d{i // 100:03}/f{i % 100:02}.txt"


def make_repo(root: Path, files: int) -> tuple[Path, str]:
    """A repository of `files` small text files in one commit; its path and that commit."""
    repo = root / "repo"
    for i in range(files):
        path = repo / _name(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"file {i} line {n}\n" for n in range(_LINES)))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "generated")
    return repo, _git(repo, "rev-parse", "HEAD")


def _edit(worktree: Path, i: int) -> None:
    path = worktree / _name(i)
    text = path.read_text()
    path.write_text(text.replace(f"file {i} line 10\n", f"file {i} line 10, edited by task {i}\n"))


def measure_ours(files: int, tasks: int) -> dict[str, float]:
    import anyio

    from parallelai.workspaces.merge_queue import Merged, MergeQueue
    from parallelai.workspaces.worktrees import TaskWorkspaces

    async def main(root: Path, repo: Path, base: str) -> float:
        workspaces = await TaskWorkspaces.plan(repo, RUN_ID, root=root / "worktrees")
        total = 0.0
        async with MergeQueue.open(repo, RUN_ID, base) as queue:
            for i in range(tasks):
                task_id = f"t{i}"
                started = time.perf_counter()
                workdir = await workspaces.create(task_id)
                _edit(workdir, i)
                change = await workspaces.capture(task_id)
                result = await queue.merge(task_id, change.patch, engine="bench", prompt=f"edit file {i}")
                total += time.perf_counter() - started
                assert isinstance(result, Merged), result
                await workspaces.remove(task_id)
        await workspaces.remove_all()
        return total

    with tempfile.TemporaryDirectory(prefix="parallelai-bench-iso-") as tmp:
        repo, base = make_repo(Path(tmp), files)
        wall = anyio.run(main, Path(tmp), repo, base)
        return {"wall": wall, "per_task": wall / tasks}


def measure_bare(files: int, tasks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="parallelai-bench-iso-") as tmp:
        repo, base = make_repo(Path(tmp), files)
        integration = Path(tmp) / "integration"
        _git(repo, "worktree", "add", "-q", "-b", "integration", str(integration), base)
        total = 0.0
        for i in range(tasks):
            worktree = Path(tmp) / f"t{i}"
            started = time.perf_counter()
            _git(repo, "worktree", "add", "-q", "--detach", str(worktree), base)
            _edit(worktree, i)
            patch = subprocess.run(
                ["git", "diff", "--binary"], cwd=worktree, capture_output=True, check=True
            ).stdout
            _git(integration, "apply", "--index", stdin=patch)
            total += time.perf_counter() - started
            _git(repo, "worktree", "remove", "--force", str(worktree))
        return {"wall": total, "per_task": total / tasks}


def _patches(repo: Path, base: str, merges: int) -> list[bytes]:
    """`merges` task patches against the base, one distinct file each, as `capture` makes them."""
    from parallelai.workspaces._patch_sections import split_patch

    worktree = repo.parent / "patches"
    _git(repo, "worktree", "add", "-q", "--detach", str(worktree), base)
    for i in range(merges):
        _edit(worktree, i * 7)  # spread over the directories
    _git(worktree, "add", "-A")
    patch = _git(worktree, "diff", "--cached", "--binary", base) + "\n"
    return [section.text.encode("utf-8", "surrogateescape") for section in split_patch(patch)]


def measure_merges(files: int, merges: int) -> dict[str, float]:
    import anyio

    from parallelai.workspaces.merge_queue import Merged, MergeQueue

    async def main(repo: Path, base: str, patches: list[bytes]) -> float:
        async with MergeQueue.open(repo, RUN_ID, base) as queue:
            started = time.perf_counter()
            async with anyio.create_task_group() as group:  # every task finishing at once

                async def merge(i: int) -> None:
                    result = await queue.merge(f"t{i}", patches[i], engine="bench", prompt=f"edit {i}")
                    assert isinstance(result, Merged), result

                for i in range(len(patches)):
                    group.start_soon(merge, i)
            return time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="parallelai-bench-merge-") as tmp:
        repo, base = make_repo(Path(tmp), files)
        patches = _patches(repo, base, merges)
        assert len(patches) == merges
        return {"wall": anyio.run(main, repo, base, patches)}


def measure_plumbing(files: int, merges: int) -> dict[str, float]:
    """The same git commands the merge queue runs, from a plain synchronous loop."""
    with tempfile.TemporaryDirectory(prefix="parallelai-bench-merge-") as tmp:
        repo, base = make_repo(Path(tmp), files)
        patches = _patches(repo, base, merges)
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}

        def git(*args: str, stdin: bytes | None = None) -> str:
            command = ["git", "-c", "user.name=b", "-c", "user.email=b@localhost", *args]
            done = subprocess.run(command, cwd=repo, env=env, input=stdin, capture_output=True, check=True)
            return done.stdout.decode().strip()

        started = time.perf_counter()
        head = base
        git("read-tree", head)
        for i, patch in enumerate(patches):
            git("apply", "--cached", "--3way", stdin=patch)
            tree = git("write-tree")
            commit = git("commit-tree", tree, "-p", head, "-m", f"t{i}")
            git("update-ref", "refs/heads/plumbing", commit, head if i else "")
            head = commit
        return {"wall": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    files, tasks, merges = 10_000, 10, 50
    rows: list[tuple[str, Any]] = [
        ("ours: create + capture + merge, per task", measure_ours(files, tasks)["per_task"]),
        ("bare git: worktree add + diff + apply, per task", measure_bare(files, tasks)["per_task"]),
        (f"{merges} merges through MergeQueue", measure_merges(files, merges)["wall"]),
        (f"{merges} merges, same plumbing in a loop", measure_plumbing(files, merges)["wall"]),
    ]
    for label, seconds in rows:
        print(f"{label:<50} {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
