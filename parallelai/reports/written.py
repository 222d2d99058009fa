"""Files the agents say they wrote, checked on disk: those that exist (with their size) and those that do not.

An answer naming a file is a claim, not a fact: the echo engine names files it never writes, and
a real agent can fail between answering and writing. Reports list as written only what exists in
the workspace after the run; a claim naming a path outside the workspace is never looked at. In
a run with isolation the workspace is not where the agents wrote: a claim holds when the run's
merged changes hold the path (`check_claims_in_changes`), with their diffstat.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from parallelai.workspaces.changes import FileStat

# Fields of the built-in output schemas that name a file the agent wrote.
_WRITTEN_FILE_FIELDS = ("test_file", "doc_file", "target_file")


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file an agent said it wrote and that exists after the run."""

    path: str  # relative to the workspace root
    size: int | None  # bytes on disk after the run; None when checked on the integration branch
    task_id: str
    edited: bool  # one of the run's input files (changed in place), not a new path
    added: int | None = None  # lines, when the agent reported a diff of it
    removed: int | None = None


@dataclass(frozen=True, slots=True)
class MissingFile:
    """A file an agent said it wrote that the workspace does not have."""

    path: str  # as the agent gave it
    task_id: str
    why: str


@dataclass(frozen=True, slots=True)
class FileClaims:
    written: list[WrittenFile]
    missing: list[MissingFile]


def claimed_paths(answer: Any) -> list[str]:
    """The files one structured answer says were written or changed (built-in schemas' fields)."""
    if not isinstance(answer, Mapping):
        return []
    paths = [str(answer[key]) for key in _WRITTEN_FILE_FIELDS if answer.get(key)]
    for entry in answer.get("files") or []:
        if isinstance(entry, Mapping) and entry.get("path"):
            paths.append(str(entry["path"]))
    if answer.get("changed") is True and answer.get("file"):  # a refactoring's file, edited in place
        paths.append(str(answer["file"]))
    return paths


def check_claims(
    claims: Iterable[tuple[str, str]],
    workdir: Path,
    inputs: Collection[str],
    patches: Mapping[str, str],
) -> FileClaims:
    """Each `(path, task_id)` claim checked under `workdir`; the first claim of a path wins."""
    root = workdir.resolve()
    written: dict[str, WrittenFile] = {}
    missing: dict[str, MissingFile] = {}
    for claimed, task_id in claims:
        path = (root / claimed).resolve()  # an absolute claim stays absolute; `..` and symlinks resolved
        if not path.is_relative_to(root):
            missing.setdefault(claimed, MissingFile(claimed, task_id, "outside the workspace, not checked"))
            continue
        relative = path.relative_to(root).as_posix()
        if relative in written or relative in missing:
            continue
        if not path.is_file():
            why = "a directory, not a file" if path.is_dir() else "not on disk after the run"
            missing[relative] = MissingFile(relative, task_id, why)
            continue
        added, removed = _diffstat(patches.get(relative) or patches.get(claimed))
        written[relative] = WrittenFile(
            relative, path.stat().st_size, task_id, relative in inputs, added, removed
        )
    return FileClaims(list(written.values()), list(missing.values()))


def check_claims_in_changes(
    claims: Iterable[tuple[str, str]], changed: Mapping[str, FileStat], inputs: Collection[str]
) -> FileClaims:
    """Each `(path, task_id)` claim checked against the files a run's merged changes hold (`changed`:
    by path relative to the workspace root); the first claim of a path wins."""
    written: dict[str, WrittenFile] = {}
    missing: dict[str, MissingFile] = {}
    for claimed, task_id in claims:
        relative = PurePosixPath(claimed).as_posix().removeprefix("./")
        if relative in written or relative in missing:
            continue
        stat = changed.get(relative)
        if stat is None:
            missing[relative] = MissingFile(relative, task_id, "not in the run's merged changes")
            continue
        added, removed = (None, None) if stat.binary else (stat.insertions, stat.deletions)
        written[relative] = WrittenFile(relative, None, task_id, relative in inputs, added, removed)
    return FileClaims(list(written.values()), list(missing.values()))


def _diffstat(patch: str | None) -> tuple[int | None, int | None]:
    if not patch:
        return None, None
    lines = patch.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed


def files_markdown(
    written: list[WrittenFile], missing: list[MissingFile], *, branch: str | None = None
) -> list[str]:
    """The report's sections on files: those written (with size and diffstat), then those missing;
    checked on the integration `branch` of a run with isolation, else on disk."""
    lines: list[str] = []
    if written:
        checked = (
            f"Each checked on the branch `{branch}`." if branch else "Each checked on disk after the run."
        )
        lines += ["## Generated or changed files", "", checked, ""]
        for file in written:
            parts = [] if file.size is None else [_size(file.size)]
            if file.edited:
                parts.append("an input file, changed" + ("" if branch else " in place"))
            if file.added is not None:
                parts.append(f"+{file.added} -{file.removed}")
            lines.append(f"- `{file.path}` — {' · '.join(parts) or 'changed'}")
        lines.append("")
    if missing:
        lines += [
            "## Missing files",
            "",
            "The agents said they wrote these; the workspace does not have them."
            if branch is None
            else f"The agents said they wrote these; `{branch}` does not have them.",
            "",
        ]
        lines += [f"- `{file.path}` ({file.task_id}): {file.why}" for file in missing]
        lines.append("")
    return lines


def _size(size: int) -> str:
    if size == 1:
        return "1 byte"
    return f"{size} bytes" if size < 10_240 else f"{size / 1024:.0f} KiB"
