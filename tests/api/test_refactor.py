"""`ParallelAI.refactor` with a known refactoring's name needs no `to`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from parallelai import ParallelAI
from parallelai.errors import InputError


@pytest.fixture
def js_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "web"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "load.js").write_text("function load(cb) { cb(null, 1) }\n")
    (root / "tests").mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "tests" / "test_ok.py").write_text("def test_ok() -> None:\n    assert True\n")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return root


def test_refactor_callback_to_async_runs_as_announced_without_to(js_project: Path) -> None:
    pai = ParallelAI(engine="echo", workdir=js_project)

    results = pai.refactor(pattern="callback-to-async", files="**/*.js", parallel=50, test_after=True)

    assert results.ok
    [outcome] = results.outcomes
    assert outcome.label == "lib/load.js"
    [record] = results.records
    task = record.task
    assert "async/await" in task.prompt
    assert "callback" in task.prompt
    [gate] = results.gates
    assert (gate.command, gate.state) == ("pytest -q", "passed")


def test_refactor_of_an_unknown_pattern_without_to_lists_the_known_ones(js_project: Path) -> None:
    with pytest.raises(InputError, match=r"needs `to`.*callback-to-async, .*var-to-const"):
        ParallelAI(engine="echo", workdir=js_project).refactor(pattern="tabs-to-spaces", files="**/*.js")
