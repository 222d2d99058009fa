"""Scope: the files a task may change, enforced on what it did change rather than asked in its prompt.

A scope is a list of gitignore-style patterns relative to the run's workdir, as task `files` globs
are (`templates/files.py`): `src/app.py` is that file, `tests/**` everything under tests/, `*.md`
Markdown at any depth. Changed paths come from the repository's top (`TaskChange.paths`); `prefix`
is where the workdir sits in the repository, and a change outside the workdir is outside any scope.

An empty scope allows nothing: a task that declares no scope is simply not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

import pathspec

from parallelai.globs import check_glob
from parallelai.wording import plural

_SHOWN = 10  # paths named in a message; the rest are counted


def outside_scope(changed: Iterable[str], scope: Sequence[str], *, prefix: str = "") -> list[str]:
    """The changed paths no pattern of `scope` covers, in the order given."""
    for pattern in scope:
        check_glob(pattern)
    allowed = pathspec.PathSpec.from_lines("gitignore", [pattern.strip() for pattern in scope])
    base = PurePosixPath(prefix) if prefix else None
    outside = []
    for path in changed:
        relative = _inside(PurePosixPath(path), base)
        if relative is None or not allowed.match_file(relative):
            outside.append(path)
    return outside


def describe_violation(outside: Sequence[str], scope: Sequence[str]) -> str:
    """The error a task fails with when it changed files outside its scope."""
    named = ", ".join(outside[:_SHOWN])
    more = f" and {plural(len(outside) - _SHOWN, 'other')}" if len(outside) > _SHOWN else ""
    return (
        f"changed {plural(len(outside), 'file')} outside its scope ({', '.join(scope) or 'nothing'}): "
        f"{named}{more}; widen its scope, or tell it in its prompt to leave those files alone"
    )


def _inside(path: PurePosixPath, base: PurePosixPath | None) -> str | None:
    if base is None:
        return path.as_posix()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else None
