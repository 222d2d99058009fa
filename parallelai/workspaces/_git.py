"""Running `git` from the event loop: one call, its output, or a `WorkspaceError` with git's words."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import anyio

from parallelai.errors import WorkspaceError

# Variables that point git at another repository or index. parallelai may itself run from a git
# hook or an editor that sets them; inherited, they would make every call act on the wrong repo.
_REPOSITORY_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_CEILING_DIRECTORIES",
    }
)

# Commits parallelai makes (snapshots, scratch bases) carry this identity, so they need no user
# config and never prompt; `--no-gpg-sign` is passed with them for the same reason.
IDENTITY = {
    "GIT_AUTHOR_NAME": "parallelai",
    "GIT_AUTHOR_EMAIL": "parallelai@localhost",
    "GIT_COMMITTER_NAME": "parallelai",
    "GIT_COMMITTER_EMAIL": "parallelai@localhost",
}


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _REPOSITORY_ENV}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_OPTIONAL_LOCKS"] = "0"  # a read such as `status` must not take the user's index lock
    if extra:
        env.update(extra)
    return env


async def git_bytes(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> bytes:
    """`git ARGS` in `cwd`; its stdout as bytes (patches may hold any bytes)."""
    command = ["git", *args]
    try:
        done = await anyio.run_process(command, cwd=cwd, env=git_env(env), check=False)
    except FileNotFoundError as missing:
        raise WorkspaceError(
            "isolating tasks needs the `git` program; install git or turn isolation off", command=command
        ) from missing
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace").strip()
        raise WorkspaceError(f"`git {' '.join(args)}` failed in {cwd}", command=command, stderr=stderr)
    return done.stdout


async def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """`git ARGS` in `cwd`; its stdout as text without the trailing newline."""
    return (await git_bytes(cwd, *args, env=env)).decode("utf-8", "surrogateescape").rstrip("\n")


async def succeeds(cwd: Path, *args: str) -> bool:
    """Whether `git ARGS` exits 0: for questions such as "is this a repository?"."""
    try:
        await git_bytes(cwd, *args)
    except WorkspaceError:
        return False
    return True


def has_commit(workdir: Path) -> bool:
    """Whether `workdir` is in a git repository with a commit, the one thing isolation needs.

    Synchronous, for planning (which is): one `git rev-parse`, a few milliseconds."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            cwd=workdir,
            env=git_env(),
            capture_output=True,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError):  # no git, or no such directory
        return False
    return done.returncode == 0
