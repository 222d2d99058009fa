"""A git patch cut into its per-file sections, each with the path it changes."""

from __future__ import annotations

import re
from dataclasses import dataclass

# git C-quotes a path with unusual bytes: `"dir/caf\303\251 \"x\".txt"`.
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_OCTAL = re.compile(r"[0-7]{3}")


@dataclass(frozen=True, slots=True)
class FileSection:
    path: str  # the path after the change (before it, for a deletion)
    text: str  # the section as it appears in the patch, from its `diff --git` line


def split_patch(patch: str) -> list[FileSection]:
    """The sections of a `git diff` patch, in order; text before the first section is dropped."""
    sections: list[FileSection] = []
    lines: list[str] = []
    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git ") and lines:
            sections.append(_section(lines))
            lines = []
        if lines or line.startswith("diff --git "):
            lines.append(line)
    if lines:
        sections.append(_section(lines))
    return sections


def _section(lines: list[str]) -> FileSection:
    return FileSection(_path(lines), "".join(lines))


def _path(lines: list[str]) -> str:
    old = new = renamed = None
    for line in lines[1:]:
        # git ends a ---/+++ name that holds a space with a tab, so the name's end is unambiguous.
        body = line.rstrip("\n")
        if body.startswith(("+++ ", "--- ")):
            body = body.rstrip("\t")
        if body.startswith("+++ "):
            new = _strip_prefix(unquote(body[4:]))
        elif body.startswith("--- "):
            old = _strip_prefix(unquote(body[4:]))
        elif body.startswith(("rename to ", "copy to ")):
            renamed = unquote(body.split(" ", 2)[2])
        elif body.startswith("@@") or body == "GIT binary patch":
            break  # the headers are over; what follows is content, which may start with anything
    for candidate in (new, renamed, old):
        if candidate is not None and candidate != "/dev/null":
            return candidate
    # Binary changes and mode-only changes have no ---/+++ lines: read `diff --git a/P b/P`.
    return _header_path(lines[0].rstrip("\n")[len("diff --git ") :])


def _strip_prefix(name: str) -> str:
    return name[2:] if name.startswith(("a/", "b/")) else name


def _header_path(rest: str) -> str:
    if rest.startswith('"'):
        end = _closing_quote(rest)
        return _strip_prefix(unquote(rest[end + 2 :]) if end + 2 < len(rest) else unquote(rest[: end + 1]))
    # Unquoted and not renamed (a rename has `rename to`): both halves are the same path.
    half = (len(rest) - 1) // 2
    return _strip_prefix(rest[half + 1 :])


def _closing_quote(text: str) -> int:
    index = 1
    while text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index


def unquote(name: str) -> str:
    """A path as git printed it, C-quoted or not, back to the path (bytes that are not UTF-8 kept
    as surrogates, so the path round-trips)."""
    if not (name.startswith('"') and name.endswith('"') and len(name) >= 2):
        return name
    out = bytearray()
    body, index = name[1:-1], 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            index += 1
        elif _OCTAL.match(body, index + 1):
            out.append(int(body[index + 1 : index + 4], 8))
            index += 4
        else:
            out.append(_ESCAPES.get(body[index + 1], ord(body[index + 1])))
            index += 2
    return out.decode("utf-8", "surrogateescape")
