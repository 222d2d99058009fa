"""`@orchestrate`: every item reaches its agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai import orchestrate


def test_each_file_given_to_an_orchestrated_function_reaches_its_own_agent_with_its_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file1.py").write_text("print('one')\n")
    (tmp_path / "file2.js").write_text("console.log('two')\n")
    monkeypatch.chdir(tmp_path)

    @orchestrate(parallel=50)
    def process_files(files: object) -> str:
        return "Process each file with AI"

    results = process_files(["file1.py", "file2.js"])

    first, second = results.texts
    assert first != second
    assert "print('one')" in first
    assert "console.log('two')" in second
    assert [record.task.files for record in results] == [["file1.py"], ["file2.js"]]


def test_an_item_that_is_not_a_file_is_added_to_a_prompt_that_does_not_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    @orchestrate(parallel=2)
    def describe(topic: str) -> str:
        return "Describe this in one line"

    assert describe(["sets", "maps"]).texts == [
        "echo: Describe this in one line\n\nsets",
        "echo: Describe this in one line\n\nmaps",
    ]
