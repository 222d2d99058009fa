"""Every task form of the announcement: strings, `{task, target, pattern}`, `Task(template=..., files=...)`."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai import ParallelOrchestrator, Task, TaskState
from parallelai.api import TaskLike
from parallelai.errors import InputError
from parallelai.models import RunSpec


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "src" / "lib").mkdir(parents=True)
    (root / "src" / "app.js").write_text("function load(cb) { cb(null, 1) }\n")
    (root / "src" / "lib" / "util.js").write_text("module.exports = function (cb) { cb() }\n")
    (root / "src" / "notes.txt").write_text("not javascript\n")
    (root / "tool.py").write_text("def main():\n    return 1\n")
    monkeypatch.chdir(root)
    return root


def test_target_and_pattern_make_one_task_per_matching_file_with_its_content(project: Path) -> None:
    orchestrator = ParallelOrchestrator(engine="echo")

    results = orchestrator.execute([{"task": "Refactor", "target": "src/", "pattern": "*.js"}])

    assert [record.task.files for record in results] == [["src/app.js"], ["src/lib/util.js"]]
    first, second = results.texts
    assert first.startswith("echo: Refactor")
    assert "function load(cb) { cb(null, 1) }" in first
    assert "module.exports = function (cb) { cb() }" in second


def test_the_announced_task_list_runs_as_written(project: Path) -> None:
    orchestrator = ParallelOrchestrator(engine="echo", max_parallel=100)
    tasks: list[TaskLike] = [
        "Review all Python files for security issues",
        "Generate unit tests for every class",
        "Update documentation for all APIs",
        {"task": "Refactor", "target": "src/", "pattern": "*.js"},
        Task(template="code_review", files=["*.py", "*.js"]),
    ]

    results = orchestrator.execute(tasks)

    assert results.ok
    ids = [record.task.id for record in results]
    review = [record for record in results if record.task.id.startswith("code_review.")]
    assert sorted(file for record in review for file in record.task.files) == [
        "src/app.js", "src/lib/util.js", "tool.py"
    ]  # fmt: skip
    assert all("def main()" in r.task.prompt for r in review if r.task.files == ["tool.py"])
    assert len(ids) == len(set(ids)) == 8


def test_a_template_task_s_ids_are_prefixed_by_its_id_and_its_dependencies_follow(project: Path) -> None:
    docs = Task(id="docs", template="documentation", files=["*.py"], params={"style": "markdown"})

    results = ParallelOrchestrator(engine="echo").execute(["first", docs])

    assert results.ok
    by_id = {record.task.id: record.task for record in results}
    assert by_id["docs.index"].depends_on == ["docs.document-0001"]
    assert "{{ outputs.docs.document-0001 }}" in by_id["docs.index"].prompt


def test_task_files_globs_are_expanded_in_the_workspace_and_their_contents_reach_the_prompt(
    project: Path,
) -> None:
    results = ParallelOrchestrator(engine="echo").execute([Task(prompt="Explain these", files=["*.js"])])

    [record] = results.records
    assert record.task.files == ["src/app.js", "src/lib/util.js"]
    assert "The file `src/app.js`:" in results.texts[0]
    assert "module.exports = function (cb) { cb() }" in results.texts[0]


def test_file_contents_with_braces_reach_a_rendered_prompt_verbatim(project: Path) -> None:
    (project / "view.vue").write_text("<p>{{ user.name }}</p>\n")
    task = Task(prompt="Explain {{ thing }}", inputs={"thing": "the view"}, files=["view.vue"])

    [text] = ParallelOrchestrator(engine="echo").execute([task]).texts

    assert text.startswith("echo: Explain the view")
    assert "<p>{{ user.name }}</p>" in text


def test_files_outside_the_workspace_or_matching_nothing_are_refused_saying_where(project: Path) -> None:
    orchestrator = ParallelOrchestrator(engine="echo")
    with pytest.raises(InputError, match="outside the workspace"):
        orchestrator.execute([Task(prompt="x", files=["../secret.txt"])])
    with pytest.raises(InputError, match=r"tasks\[0\].*'\*\.rs' matched no file"):
        orchestrator.execute([Task(prompt="x", files=["*.rs"])])
    with pytest.raises(InputError, match=r"prompt.*or a `template`"):
        orchestrator.execute([{"options": {}}])


def test_a_stored_run_holds_only_plain_tasks(project: Path) -> None:
    results = ParallelOrchestrator(engine="echo").execute([Task(template="code_review", files=["*.py"])])

    assert results.counts[TaskState.SUCCEEDED] == 1
    assert all(record.task.template is None and record.task.prompt for record in results)
    with pytest.raises(ValueError, match="plan it first"):
        RunSpec(tasks=[Task(template="code_review")])
