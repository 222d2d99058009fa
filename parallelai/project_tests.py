"""A project's test command, found from its files: what `refactor(test_after=True)` runs as a gate."""

from __future__ import annotations

import configparser
import json
import tomllib
from pathlib import Path

from parallelai.errors import InputError

PYTEST = "pytest -q"
NPM_TEST = "npm test"


def detect_test_command(root: Path) -> str:
    """`pytest -q` for a project with a pytest configuration or a tests directory, `npm test` for
    one whose package.json declares a test script; InputError (naming what was looked for) else."""
    if _uses_pytest(root):
        return PYTEST
    if _has_npm_test(root):
        return NPM_TEST
    raise InputError(
        f"test_after=True: cannot tell how {root} runs its tests (no pytest configuration or tests/ "
        'directory, no `test` script in package.json); name the command, e.g. test_after="make test"'
    )


def _uses_pytest(root: Path) -> bool:
    if (root / "pytest.ini").is_file() or (root / "conftest.py").is_file():
        return True
    test_dirs = [root / name for name in ("tests", "test") if (root / name).is_dir()]
    # Beside a package.json, a tests directory is pytest's only if it holds Python.
    if test_dirs and (
        not (root / "package.json").is_file() or any(any(d.glob("**/*.py")) for d in test_dirs)
    ):
        return True
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except (OSError, tomllib.TOMLDecodeError):
            tool = {}
        if isinstance(tool, dict) and "pytest" in tool:
            return True
    for name, section in (("setup.cfg", "tool:pytest"), ("tox.ini", "pytest")):
        config = configparser.ConfigParser()
        try:
            config.read(root / name, encoding="utf-8")
        except configparser.Error:
            continue
        if config.has_section(section):
            return True
    return False


def _has_npm_test(root: Path) -> bool:
    try:
        package = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    scripts = package.get("scripts") if isinstance(package, dict) else None
    return isinstance(scripts, dict) and isinstance(scripts.get("test"), str)
