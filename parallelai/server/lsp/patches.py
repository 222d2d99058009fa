"""Unified diffs as LSP TextEdits, one per hunk; a hunk applies only where its old lines match exactly.

No fuzz and no offset search: an agent's patch that no longer matches the file (the user edited
it since) is refused with `PatchError`, rather than applied somewhere it was not meant to go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lsprotocol.types import Position, Range, TextEdit

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # LSP's line breaks, not str.splitlines'
_NO_NEWLINE = "\\"  # "\ No newline at end of file"


class PatchError(ValueError):
    """The diff cannot be read, or does not apply cleanly to the text it is meant for."""


@dataclass(frozen=True)
class Hunk:
    old_start: int  # 1-based, as in the `@@` header; for a pure insertion, the line it goes after
    old_count: int
    old: tuple[str, ...]  # the lines it replaces, without line breaks
    new: tuple[str, ...]  # the lines that replace them
    new_ends_without_newline: bool = False


def utf16_units(text: str) -> int:
    """LSP's default column unit."""
    return len(text.encode("utf-16-le")) // 2


def text_edits(
    source: str, diff: str, path: str | None = None, units: Callable[[str], int] = utf16_units
) -> list[TextEdit]:
    """The edits that turn `source` into what `diff` (for `path`, if it covers several files) makes it.

    `units` counts a line's characters in the client's position encoding.
    """
    lines = _LINE.findall(source)
    bodies = [line.rstrip("\r\n") for line in lines]
    newline = _first_newline(lines)
    edits: list[TextEdit] = []
    done = 0  # lines before this index are covered by an earlier hunk
    for hunk in parse_hunks(diff, path):
        start = hunk.old_start if hunk.old_count == 0 else hunk.old_start - 1
        end = start + hunk.old_count
        if start < done:
            raise PatchError(f"hunk at line {hunk.old_start} overlaps the one before it")
        if end > len(lines) or tuple(bodies[start:end]) != hunk.old:
            raise PatchError(f"hunk at line {hunk.old_start} does not match the file; it has changed since")
        done = end
        text = "".join(line + newline for line in hunk.new)
        if hunk.new_ends_without_newline and text:
            text = text[: -len(newline)]
        edits.append(
            TextEdit(range=Range(_position(start, lines, units), _position(end, lines, units)), new_text=text)
        )
    return edits


def parse_hunks(diff: str, path: str | None = None) -> list[Hunk]:
    """The hunks of the one file section of `diff` that is for `path` (or the only section there is)."""
    sections = _sections([line.rstrip("\r\n") for line in _LINE.findall(diff)])
    if not sections:
        raise PatchError("no hunks in the patch")
    if len(sections) == 1:
        return sections[0][1]
    chosen = [hunks for names, hunks in sections if path is not None and path in names]
    if len(chosen) != 1:
        raise PatchError(f"the patch covers several files, and not exactly one of them is {path!r}")
    return chosen[0]


def _sections(lines: Sequence[str]) -> list[tuple[set[str], list[Hunk]]]:
    """(the paths a section's `---`/`+++` headers name, its hunks), in order."""
    sections: list[tuple[set[str], list[Hunk]]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ "):
            sections.append(({_path(line[4:]), _path(lines[index + 1][4:])}, []))
            index += 2
            continue
        header = _HUNK.match(line)
        index += 1
        if header is None:
            continue  # `diff --git`, `index …` and other lines around the hunks
        if not sections:
            sections.append((set(), []))  # bare hunks, without file headers
        hunk, index = _hunk(header, lines, index)
        sections[-1][1].append(hunk)
    return [section for section in sections if section[1]]


def _hunk(header: re.Match[str], lines: Sequence[str], index: int) -> tuple[Hunk, int]:
    """The hunk whose body starts at `index`, read by its header's counts; and where the next line is.

    Reading by count matters: a removed line `-- x` is `--- x` in the diff, not a file header.
    """
    old_start, old_count = int(header[1]), int(header[2] or 1)
    old_left, new_left = old_count, int(header[4] or 1)
    old: list[str] = []
    new: list[str] = []
    new_open = False
    last = ""
    while index < len(lines) and (old_left > 0 or new_left > 0 or lines[index].startswith(_NO_NEWLINE)):
        line = lines[index]
        index += 1
        if line.startswith(_NO_NEWLINE):
            new_open = new_open or last in (" ", "+")
            continue
        kind, text = (line[:1] or " "), line[1:]  # an empty line is context whose space was stripped
        if kind not in (" ", "-", "+"):
            raise PatchError(f"unexpected line in the hunk at line {old_start}: {line!r}")
        if kind != "+":
            old.append(text)
            old_left -= 1
        if kind != "-":
            new.append(text)
            new_left -= 1
        last = kind
    if old_left != 0 or new_left != 0:
        raise PatchError(f"the hunk at line {old_start} does not have the lines its header counts")
    return Hunk(old_start, old_count, tuple(old), tuple(new), new_open), index


def _path(header: str) -> str:
    name = header.split("\t")[0].strip()
    return name[2:] if name[:2] in ("a/", "b/") else name


def _first_newline(lines: Sequence[str]) -> str:
    for line in lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith(("\n", "\r")):
            return line[-1]
    return "\n"


def _position(index: int, lines: Sequence[str], units: Callable[[str], int]) -> Position:
    """Where line `index` starts; past the last line, the end of the text."""
    if index < len(lines):
        return Position(line=index, character=0)
    if not lines or lines[-1].endswith(("\n", "\r")):
        return Position(line=len(lines), character=0)
    return Position(line=len(lines) - 1, character=units(lines[-1]))
