"""Template tests run on a copy of tests/templates/sample_repo, against a real SQLite store."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from parallelai.cli import main as cli_main
from tests.support.fixtures import cli_bin, model_server  # noqa: F401  (the claude-code template tests)

SAMPLE_REPO = Path(__file__).resolve().parent / "sample_repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The sample repository, plus what git cannot keep: an ignored build output."""
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, root)
    (root / "build").mkdir()
    (root / "build" / "generated.py").write_text("# ignored by .gitignore\n")
    return root


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


def run_count(store: Path) -> int:
    """How many runs the store holds: 0 (or no store at all) means nothing started."""
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


@pytest.fixture
def cli(store_path: Path) -> Callable[[Sequence[str]], int]:
    """`cli([...])` runs `parallelai --store STORE ...` in-process and returns its exit code."""

    def run(argv: Sequence[str]) -> int:
        return cli_main.main(["--store", str(store_path), *argv])

    return run
