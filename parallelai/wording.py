"""Counts in words, with the right plural, so every surface says "1 task" and "2 tasks"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 task`, `2 tasks`; `many` for nouns whose plural is not noun + s (`1 entry`, `2 entries`)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
