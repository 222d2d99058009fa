"""Unified diffs become TextEdits that reproduce the patched file, and a patch that no longer fits is refused."""

from __future__ import annotations

import pytest
from lsprotocol.types import Position, TextEdit

from parallelai.server.lsp.patches import PatchError, text_edits, utf16_units

SOURCE = "one\ntwo\nthree\nfour\nfive\n"


def apply(source: str, edits: list[TextEdit]) -> str:
    """What an editor does with the edits (ASCII text: a column is a character)."""
    lines = source.splitlines(keepends=True)

    def offset(position: Position) -> int:
        return sum(len(line) for line in lines[: position.line]) + position.character

    result = source
    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        start, end = offset(edit.range.start), offset(edit.range.end)
        result = result[:start] + edit.new_text + result[end:]
    return result


def test_a_replaced_line_becomes_one_edit_over_the_hunks_old_lines() -> None:
    diff = "--- a/f.txt\n+++ b/f.txt\n@@ -2,3 +2,3 @@\n two\n-three\n+THREE\n four\n"
    edits = text_edits(SOURCE, diff)
    assert len(edits) == 1
    assert edits[0].range.start == Position(line=1, character=0)
    assert edits[0].range.end == Position(line=4, character=0)
    assert apply(SOURCE, edits) == "one\ntwo\nTHREE\nfour\nfive\n"


def test_several_hunks_apply_together_insertions_and_deletions_included() -> None:
    diff = "@@ -1,2 +1,3 @@\n one\n+one and a half\n two\n@@ -4,2 +5,1 @@\n four\n-five\n"
    assert apply(SOURCE, text_edits(SOURCE, diff)) == "one\none and a half\ntwo\nthree\nfour\n"


def test_a_pure_insertion_goes_after_the_line_its_header_names() -> None:
    diff = "@@ -3,0 +4,1 @@\n+three and a bit\n"
    assert apply(SOURCE, text_edits(SOURCE, diff)) == "one\ntwo\nthree\nthree and a bit\nfour\nfive\n"


def test_a_file_without_a_final_newline_keeps_or_gains_one_as_the_diff_says() -> None:
    source = "a\nb"
    keeps = "@@ -2 +2 @@\n-b\n\\ No newline at end of file\n+B\n\\ No newline at end of file\n"
    edits = text_edits(source, keeps)
    assert edits[0].range.end == Position(line=1, character=1)
    assert apply(source, edits) == "a\nB"
    gains = "@@ -2 +2 @@\n-b\n\\ No newline at end of file\n+B\n"
    assert apply(source, text_edits(source, gains)) == "a\nB\n"


def test_windows_line_endings_are_matched_and_kept() -> None:
    source = "one\r\ntwo\r\n"
    diff = "@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n"
    assert apply(source, text_edits(source, diff)) == "one\r\nTWO\r\n"


def test_a_patch_over_several_files_is_taken_for_the_file_asked_for() -> None:
    diff = (
        "diff --git a/other.txt b/other.txt\n--- a/other.txt\n+++ b/other.txt\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-one\n+ONE\n"
    )
    assert apply(SOURCE, text_edits(SOURCE, diff, "f.txt")).startswith("ONE\ntwo\n")
    with pytest.raises(PatchError, match="several files"):
        text_edits(SOURCE, diff, "missing.txt")


def test_a_removed_line_that_looks_like_a_file_header_stays_part_of_its_hunk() -> None:
    source = "-- a comment\n++ not a header\nkept\n"
    diff = "--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,1 @@\n--- a comment\n-++ not a header\n kept\n"
    assert apply(source, text_edits(source, diff, "q.sql")) == "kept\n"


def test_a_hunk_whose_old_lines_changed_since_is_refused() -> None:
    diff = "@@ -2,2 +2,2 @@\n two\n-THREE\n+3\n"
    with pytest.raises(PatchError, match="does not match"):
        text_edits(SOURCE, diff)


def test_a_hunk_past_the_end_of_the_file_is_refused() -> None:
    with pytest.raises(PatchError, match="does not match"):
        text_edits(SOURCE, "@@ -5,2 +5,2 @@\n five\n-six\n+6\n")


def test_a_diff_without_hunks_or_with_a_short_hunk_is_refused() -> None:
    with pytest.raises(PatchError, match="no hunks"):
        text_edits(SOURCE, "just some text\n")
    with pytest.raises(PatchError, match="header counts"):
        text_edits(SOURCE, "@@ -1,3 +1,3 @@\n one\n")


def test_columns_are_counted_in_the_clients_units() -> None:
    source = "x\n😀"  # no final newline: the edit ends at a column of the last line
    diff = "@@ -2 +2 @@\n-😀\n\\ No newline at end of file\n+y\n\\ No newline at end of file\n"
    assert text_edits(source, diff)[0].range.end == Position(line=1, character=2)  # UTF-16: a surrogate pair
    assert text_edits(source, diff, units=len)[0].range.end == Position(line=1, character=1)
    assert utf16_units("😀a") == 3
