"""The merge queue: one run's task changes applied, one commit each, onto its integration branch.

The integration branch `parallelai/<run_id>` starts at the run's base commit and gains one commit
per merged task, in the order the merges were asked for. It is built with git's plumbing only:

    git read-tree HEAD_OF_BRANCH          into a private index (GIT_INDEX_FILE, a temp dir of ours)
    git apply --cached --3way < PATCH     the task's change, onto that index
    git write-tree                        the index as a tree
    git commit-tree TREE -p HEAD          a commit carrying the task id, engine and prompt summary
    git update-ref BRANCH NEW HEAD        compare-and-swap: the branch moves only from where we saw it

Why plumbing rather than a worktree checked out on the integration branch: nothing reads or
writes any working tree, so the user's checkout, index and current branch cannot be disturbed
(git is always called with `--git-dir`, never in a work tree), no checkout of a large repository
has to be made or kept for the integration branch, and a patch that does not apply leaves nothing
to clean up but our own index. The index is kept between merges (after a merge it equals the new
head), so the common case is four short git processes.

`--3way` makes a patch made against the base apply on a head that other tasks changed nearby
(edits a few lines apart, which break a plain patch's context); it falls back to a 3-way merge
of the file only when the plain apply fails. A real overlap leaves the file unmerged in our
index: that is a `Conflict`, and the branch stays where it was.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from parallelai.errors import WorkspaceError
from parallelai.workspaces._git import IDENTITY, git_env
from parallelai.workspaces._patch_sections import split_patch, unquote

BRANCH_PREFIX = "parallelai/"
TASK_TRAILER = "Parallelai-Task"

# `git apply` names the files it could not apply in lines like these (LC_ALL=C keeps them English).
_FAILED_PATH = re.compile(
    r"^error: (?:patch failed: (?P<at>.+):\d+|(?P<path>.+): (?:patch does not apply|does not exist in index"
    r"|already exists in index|does not match index|wrong type))$",
    re.MULTILINE,
)
_SUMMARY_WIDTH = 60
_BODY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Merged:
    task_id: str
    commit: str | None  # None: the patch was empty, nothing was committed


@dataclass(frozen=True, slots=True)
class Conflict:
    """A task's patch that does not apply on the integration head; the branch did not move."""

    task_id: str
    paths: tuple[str, ...]  # the files that conflict
    hunks: str  # the task's patch, cut to the sections of those files: for the re-run prompt
    detail: str  # what git said
    head: str  # the integration head it was tried on


MergeResult = Merged | Conflict


@dataclass(frozen=True, slots=True)
class MergedTask:
    """One commit of the integration branch, read back from git (after a restart, too)."""

    task_id: str
    commit: str


class MergeQueue:
    """One run's integration branch; `merge` may be called concurrently and merges one at a time,
    in call order. Open with `MergeQueue.open(repo, run_id, base)`."""

    def __init__(self, git_dir: Path, run_id: str, base: str, head: str, index: Path, env: dict[str, str]):
        self._git_dir = git_dir
        self.run_id = run_id
        self.base = base
        self.branch = BRANCH_PREFIX + run_id
        self._head = head
        self._index = index
        self._env = env
        self._lock = anyio.Lock()  # FIFO: merges happen in the order they were asked for
        self._index_is_head = False  # False until read, and after a conflict or a cancelled merge

    @classmethod
    @asynccontextmanager
    async def open(cls, repo: Path | str, run_id: str, base: str) -> AsyncIterator[MergeQueue]:
        """The queue of `run_id` in the repository at `repo`: its branch is created at `base`, or,
        if it exists (a restart), continued from its head — which must descend from `base`."""
        # parallelai's own identity, as for every commit it makes: no user config needed, never a prompt.
        env = git_env({"LC_ALL": "C", **IDENTITY})
        git_dir = Path((await _git(["git", "-C", str(repo), "rev-parse", "--absolute-git-dir"], env)).strip())
        ref = "refs/heads/" + BRANCH_PREFIX + run_id
        base_commit = (await _git(_at(git_dir, "rev-parse", "--verify", f"{base}^{{commit}}"), env)).strip()
        existing = await _run(_at(git_dir, "rev-parse", "--verify", "--quiet", ref), env)
        if existing.returncode == 0:
            head = existing.stdout.decode().strip()
            if not await _succeeds(_at(git_dir, "merge-base", "--is-ancestor", base_commit, head), env):
                raise WorkspaceError(
                    f"branch {ref} exists but does not descend from the run's base {base_commit}; "
                    "delete it or give the run its own id"
                )
        else:
            head = base_commit
            # The empty old value: create the branch only if nobody else just did.
            await _git(_at(git_dir, "update-ref", "-m", "parallelai: integration branch", ref, head, ""), env)
        with tempfile.TemporaryDirectory(prefix="parallelai-merge-") as scratch:
            index = Path(scratch) / "index"
            yield cls(git_dir, run_id, base_commit, head, index, {**env, "GIT_INDEX_FILE": str(index)})

    @property
    def head(self) -> str:
        """The integration branch's commit after the last merge."""
        return self._head

    async def merge(self, task_id: str, patch: str | bytes, *, engine: str, prompt: str) -> MergeResult:
        """Apply `patch` (a `git diff --binary` against the base) on the integration head and commit
        it, or return the `Conflict` that stops it; waits for the merges asked for before it."""
        data = patch.encode("utf-8", "surrogateescape") if isinstance(patch, str) else patch
        async with self._lock:
            if not data.strip():
                return Merged(task_id, None)
            if not self._index_is_head:
                await self._git("read-tree", self._head)
            self._index_is_head = False
            applied = await _run(
                self._at("apply", "--cached", "--3way", "--whitespace=nowarn"), self._env, data
            )
            if applied.returncode != 0:
                return await self._conflict(task_id, data, applied)
            tree = (await self._git("write-tree")).strip()
            message = commit_message(self.run_id, task_id, engine, prompt)
            commit = (
                await _git(
                    self._at("commit-tree", "--no-gpg-sign", tree, "-p", self._head, "-F", "-"),
                    self._env,
                    message.encode(),
                )
            ).strip()
            # Shielded: once the branch has moved, our idea of its head must move with it.
            with anyio.CancelScope(shield=True):
                await self._git(
                    "update-ref", "-m", f"parallelai: merge {task_id}", self._ref, commit, self._head
                )
                self._head = commit
                self._index_is_head = True
            return Merged(task_id, commit)

    async def diff(self) -> str:
        """The integration branch against the base, as a binary-safe patch (`git apply` takes it)."""
        # The user's diff config must not change the patch: prefixes `git apply` expects, no colours
        # or external tools.
        return await self._git(
            "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false",
            "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--binary", "--full-index",
            self.base, self._head,
        )  # fmt: skip

    async def merged(self) -> list[MergedTask]:
        """The tasks merged so far, oldest first, read from the branch's commit trailers: what a
        restarted run must not merge again."""
        out = await self._git(
            "log",
            "--no-show-signature",
            "--reverse",
            f"--format=%H %(trailers:key={TASK_TRAILER},valueonly,separator=)",
            f"{self.base}..{self._head}",
        )
        tasks = []
        for line in out.splitlines():
            commit, _, task_id = line.partition(" ")
            if task_id:
                tasks.append(MergedTask(task_id.strip(), commit))
        return tasks

    @property
    def _ref(self) -> str:
        return "refs/heads/" + self.branch

    def _at(self, *args: str) -> list[str]:
        return _at(self._git_dir, *args)

    async def _git(self, *args: str) -> str:
        return await _git(self._at(*args), self._env)

    async def _conflict(self, task_id: str, data: bytes, applied: _Done) -> Conflict:
        stderr = applied.stderr.decode("utf-8", "surrogateescape")
        if applied.returncode != 1:
            # 128 is git's "I could not read that": a patch that is malformed or empty, not one that conflicts.
            raise WorkspaceError(f"task {task_id}: git apply could not read its patch", stderr=stderr.strip())
        text = data.decode("utf-8", "surrogateescape")
        sections = split_patch(text)
        paths = await self._unmerged_paths() or _paths_in(stderr) or [section.path for section in sections]
        wanted = set(paths)
        hunks = "".join(section.text for section in sections if section.path in wanted)
        return Conflict(task_id, tuple(dict.fromkeys(paths)), hunks or text, stderr.strip(), self._head)

    async def _unmerged_paths(self) -> list[str]:
        out = await self._git("ls-files", "--unmerged", "-z")
        # Each entry is "MODE SHA STAGE\tPATH"; one path appears once per stage.
        return list(dict.fromkeys(entry.split("\t", 1)[1] for entry in out.split("\0") if "\t" in entry))


def commit_message(run_id: str, task_id: str, engine: str, prompt: str) -> str:
    """`<task>: <prompt summary>`, the prompt (cut), and trailers git can read back (`merged`)."""
    words = " ".join(prompt.split())
    summary = words if len(words) <= _SUMMARY_WIDTH else words[: _SUMMARY_WIDTH - 1].rstrip() + "…"
    body = prompt.strip()
    if len(body) > _BODY_LIMIT:
        body = body[: _BODY_LIMIT - 1].rstrip() + "…"
    lines = [f"{task_id}: {summary}" if summary else task_id, ""]
    if body and body != summary:
        lines += [body, ""]
    lines += [f"{TASK_TRAILER}: {task_id}", f"Parallelai-Engine: {engine}", f"Parallelai-Run: {run_id}"]
    return "\n".join(lines) + "\n"


def _paths_in(stderr: str) -> list[str]:
    return [unquote(match["at"] or match["path"]) for match in _FAILED_PATH.finditer(stderr)]


# -- running git ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Done:
    returncode: int
    stdout: bytes
    stderr: bytes


def _at(git_dir: Path, *args: str) -> list[str]:
    return ["git", f"--git-dir={git_dir}", *args]


async def _run(command: Sequence[str], env: Mapping[str, str], stdin: bytes | None = None) -> _Done:
    done = await anyio.run_process(command, input=stdin, check=False, env=dict(env))
    return _Done(done.returncode, done.stdout, done.stderr)


async def _git(command: Sequence[str], env: Mapping[str, str], stdin: bytes | None = None) -> str:
    """git's stdout as text (bytes that are not UTF-8 kept as surrogates, so a patch round-trips)."""
    done = await _run(command, env, stdin)
    if done.returncode != 0:
        shown = " ".join(arg for arg in command if not arg.startswith("--git-dir="))
        stderr = done.stderr.decode("utf-8", "replace").strip()
        raise WorkspaceError(f"`{shown}` failed", command=command, stderr=stderr)
    return done.stdout.decode("utf-8", "surrogateescape")


async def _succeeds(command: Sequence[str], env: Mapping[str, str]) -> bool:
    return (await _run(command, env)).returncode == 0
