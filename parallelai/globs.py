"""Globs confined to a workspace: the one check every place that takes a user's glob makes first
(templates' file selection, task forms, an isolated task's scope)."""

from __future__ import annotations

from pathlib import PurePosixPath

from parallelai.errors import FileSelectionError


def check_glob(pattern: str) -> None:
    """Refuse a glob that could match outside the root."""
    text = pattern.strip()
    if not text:
        raise FileSelectionError("an empty glob selects nothing; remove it")
    if text.startswith(("/", "\\", "~")) or (len(text) > 1 and text[1] == ":"):
        raise FileSelectionError(f"glob {pattern!r} is absolute; globs are relative to the workspace root")
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise FileSelectionError(f"glob {pattern!r} escapes the workspace root ('..' is not allowed)")
