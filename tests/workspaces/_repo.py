"""Real repositories for the workspace tests, and the user's-side view of them to compare."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The user's own `git` calls in these tests: a fixed identity, and no optional index refresh, so
# reading the repository does not itself change the user's index.
_ENV = {
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_AUTHOR_NAME": "user",
    "GIT_AUTHOR_EMAIL": "user@example.com",
    "GIT_COMMITTER_NAME": "user",
    "GIT_COMMITTER_EMAIL": "user@example.com",
}

BINARY = bytes(range(256)) * 4  # every byte value, NUL included: not text by any measure


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_ENV}, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8", "surrogateescape").strip()


def apply_patch(patch: bytes, directory: Path, *flags: str) -> None:
    """`git apply` as the merge (or a user) would run it; raises if the patch does not apply."""
    subprocess.run(["git", "apply", *flags], cwd=directory, input=patch, check=True, capture_output=True)


def make_repo(root: Path) -> Path:
    """A repository with three commits, then the user's work in progress on top: a modified
    tracked file, a staged change, a deleted file, an untracked file and an ignored one."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / ".gitignore").write_text("build/\n")
    (root / "app.py").write_text("def main():\n    return 1\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "first")
    (root / "pkg").mkdir()
    (root / "pkg" / "util.py").write_text("VALUE = 1\n")
    (root / "logo.bin").write_bytes(BINARY)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "second")
    (root / "README.md").write_text("# demo\n")
    (root / "old.txt").write_text("to be deleted\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "third")
    (root / "app.py").write_text("def main():\n    return 3  # stashed\n")
    git(root, "stash", "--quiet")  # one stash entry, so "the stash list is unchanged" means something
    # Work in progress, which a run must not see unless the user opts in.
    (root / "app.py").write_text("def main():\n    return 2  # wip\n")
    (root / "README.md").write_text("# demo, staged\n")
    git(root, "add", "README.md")
    (root / "old.txt").unlink()
    (root / "notes.txt").write_text("untracked notes\n")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_text("ignored\n")
    return root


@dataclass(frozen=True)
class UserView:
    """Everything of the user's checkout a run must leave as it was."""

    head: str
    branch: str
    status: str
    stash: str
    index_digest: str
    worktree_files: dict[str, bytes]

    @classmethod
    def of(cls, repo: Path) -> UserView:
        files = {
            path.relative_to(repo).as_posix(): path.read_bytes()
            for path in sorted(repo.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(repo).parts
        }
        return cls(
            head=git(repo, "rev-parse", "HEAD"),
            branch=git(repo, "symbolic-ref", "HEAD"),
            status=git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
            stash=git(repo, "stash", "list"),
            index_digest=hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(),
            worktree_files=files,
        )


def registered_worktrees(repo: Path) -> list[Path]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [
        Path(line.removeprefix("worktree ")) for line in listing.splitlines() if line.startswith("worktree ")
    ]


TWO_TEXT_FILES = {"a.txt": "a line 1\na line 2\n", "b.txt": "b line 1\n"}


def committed_repo(root: Path, files: dict[str, str]) -> Path:
    """A repository at `root` on branch main whose one commit holds `files` (path → text)."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "first")
    return root
