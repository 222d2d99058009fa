"""The refactorings known by name (`ParallelAI.refactor(pattern="callback-to-async")`): what each
replaces and what it becomes, so a named one needs no `to`.

| name | replaces | with |
|---|---|---|
| `callback-to-async` | callback-style asynchronous functions and their call sites | async/await |
| `promise-to-async` | `.then()`/`.catch()` promise chains | async/await with try/catch |
| `var-to-const` | `var` declarations | `const`, or `let` where the variable is reassigned |
| `require-to-import` | CommonJS `require()` / `module.exports` | ES module `import` / `export` |
| `class-to-hooks` | React class components | function components with hooks |
| `py2-to-py3` | Python 2 code | Python 3 code |
| `unittest-to-pytest` | `unittest.TestCase` classes and `self.assert*` calls | plain pytest functions with `assert` |
"""

from __future__ import annotations

from dataclasses import dataclass

from parallelai.errors import InputError


@dataclass(frozen=True, slots=True)
class Refactoring:
    replaces: str
    becomes: str


KNOWN: dict[str, Refactoring] = {
    "callback-to-async": Refactoring(
        "callback-style asynchronous functions (a callback as the last argument) and their call sites",
        "async/await: functions that return promises, awaited by their callers",
    ),
    "promise-to-async": Refactoring(
        "`.then()`/`.catch()` promise chains", "async/await with try/catch where the chain caught errors"
    ),
    "var-to-const": Refactoring("`var` declarations", "`const`, or `let` where the variable is reassigned"),
    "require-to-import": Refactoring(
        "CommonJS `require()` and `module.exports`", "ES module `import` and `export`"
    ),
    "class-to-hooks": Refactoring(
        "React class components (state, lifecycle methods)",
        "function components with hooks (useState, useEffect, …)",
    ),
    "py2-to-py3": Refactoring(
        "Python 2 code (print statements, old-style division, `unicode`, `iteritems`, …)", "Python 3 code"
    ),
    "unittest-to-pytest": Refactoring(
        "`unittest.TestCase` classes and `self.assert*` calls", "plain pytest functions with `assert`"
    ),
}


def resolve_refactoring(pattern: str, to: str | None) -> tuple[str, str]:
    """What to replace and what with: a known name's table entry (`to` overriding what it
    becomes), else `pattern` and `to` as given — InputError when `to` is missing then."""
    known = KNOWN.get(pattern.strip().lower())
    if known is not None:
        return known.replaces, to or known.becomes
    if not to:
        raise InputError(
            f"refactor(pattern={pattern!r}) needs `to` (what it becomes), or a known pattern: "
            f"{', '.join(KNOWN)}"
        )
    return pattern, to
