"""docs/python.md's first example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def test_the_python_guide_s_task_forms_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("function f(cb) { cb() }\n")
    (tmp_path / "b.py").write_text("B = 1\n")
    monkeypatch.chdir(tmp_path)
    first = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]

    exec(compile(first, str(DOC), "exec"), {})

    assert capsys.readouterr().out == "{'succeeded': 6} 0.0\n"  # as its comment says
