"""Selecting the files a task group works on: globs confined to a workspace root.

The rules, and why:
- globs are gitignore-style patterns relative to the root (`*.py` matches at any depth, `src/**/*.py`
  under src/); an absolute glob or one with a `..` part is refused — it would reach outside;
- `.gitignore` files (the root's and nested ones) are respected, and `.git/` is never entered:
  generated and vendored files are not work anyone asked for;
- directories reached through a symlink are not entered and symlinked files that resolve outside
  the root are skipped, so a link cannot smuggle in files from elsewhere;
- binary files and files over `max_bytes` are skipped (and reported), since a prompt cannot hold them;
- more matches than `max_files` is refused with the count, before anything starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from parallelai.errors import FileSelectionError
from parallelai.globs import check_glob

DEFAULT_MAX_TASKS = 1000
DEFAULT_MAX_BYTES = 256 * 1024
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class SelectedFile:
    path: str  # relative to the root, with forward slashes
    absolute: Path

    def read_text(self) -> str:
        return self.absolute.read_text(encoding="utf-8", errors="replace")


@dataclass(slots=True)
class Selection:
    files: list[SelectedFile] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why


def select_files(
    root: Path,
    globs: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    max_files: int = DEFAULT_MAX_TASKS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Selection:
    for pattern in [*globs, *exclude]:
        check_glob(pattern)
    root = root.resolve()
    wanted = pathspec.PathSpec.from_lines("gitignore", [_normalise(glob) for glob in globs])
    unwanted = pathspec.PathSpec.from_lines("gitignore", [_normalise(glob) for glob in exclude])
    selection = Selection()
    matched: list[str] = []
    for relative in _walk(root):
        if wanted.match_file(relative) and not unwanted.match_file(relative):
            matched.append(relative)
    if len(matched) > max_files:
        raise FileSelectionError(
            f"{', '.join(globs)} matched {len(matched)} files, more than the limit of {max_files}; "
            "narrow the globs or raise --max-tasks"
        )
    for relative in sorted(matched):
        absolute = root / relative
        problem = _unusable(root, absolute, max_bytes)
        if problem:
            selection.skipped[relative] = problem
        else:
            selection.files.append(SelectedFile(relative, absolute))
    return selection


def _normalise(glob: str) -> str:
    text = glob.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text or "*"


def _walk(root: Path) -> list[str]:
    """Every file under root not ignored by a .gitignore, as root-relative posix paths."""
    found: list[str] = []
    ignores: list[tuple[str, pathspec.GitIgnoreSpec]] = []  # (directory prefix, its .gitignore)
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        gitignore = Path(directory) / ".gitignore"
        if gitignore.is_file() and not gitignore.is_symlink():
            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
            ignores.append((prefix, pathspec.GitIgnoreSpec.from_lines(lines)))

        def ignored(relative: str, is_dir: bool) -> bool:
            for owner, spec in ignores:
                if relative.startswith(owner):
                    inner = relative[len(owner) :] + ("/" if is_dir else "")
                    if spec.match_file(inner):
                        return True
            return False

        dirnames[:] = sorted(
            name
            for name in dirnames
            if name != ".git"
            and not (Path(directory) / name).is_symlink()
            and not ignored(prefix + name, True)
        )
        found.extend(prefix + name for name in sorted(filenames) if not ignored(prefix + name, False))
    return found


def _unusable(root: Path, path: Path, max_bytes: int) -> str | None:
    if path.is_symlink() and not path.resolve().is_relative_to(root):
        return "a symlink pointing outside the workspace"
    if not path.is_file():
        return "not a regular file"
    size = path.stat().st_size
    if size > max_bytes:
        return f"{size} bytes, over the {max_bytes}-byte cap"
    with path.open("rb") as handle:
        if b"\0" in handle.read(_SNIFF_BYTES):
            return "binary"
    return None
