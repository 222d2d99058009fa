"""The public surface: `__all__` is pinned, and the README's examples run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import parallelai
from parallelai import ParallelOrchestrator, Task, TaskState, orchestrate
from parallelai.errors import InputError
from parallelai.run_request import RunSettings
from parallelai.tasksfile import spec_from_file

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_all_is_pinned() -> None:
    assert sorted(parallelai.__all__) == [
        "Attempt", "DependencyCycleError", "Engine", "EngineRegistry", "EngineRequest", "EngineSpec",
        "EngineStatus", "ErrorKind", "Event", "InputError", "NoEngineError", "OrchestrationService", "ParallelAI",
        "ParallelAIError", "ParallelOrchestrator", "Results", "RunFailedError", "RunLimits", "RunNotFoundError", "RunSpec", "RunState",
        "RunSummary", "StoreError", "Task", "TaskError", "TaskOptions", "TaskRecord", "TaskResult",
        "TaskState", "TasksFileError", "UnknownEngineError", "Usage", "__version__", "orchestrate",
    ]  # fmt: skip
    for name in parallelai.__all__:
        assert hasattr(parallelai, name), name


def test_readme_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bare_machine: Path
) -> None:
    # As a newcomer runs it: no engine named in the environment and no assistant installed, so
    # every engine it uses must be named in the example itself.
    monkeypatch.chdir(tmp_path)
    (block,) = readme_blocks("python")
    exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    # Its counts print as a reader writes them: the states some task is in, by name.
    assert "{'succeeded': 2} 16 0.0 echo: Summarise b.py\n" in out
    assert "['echo: Review a.py for bugs', 'echo: Review b.py for bugs']" in out


def test_readme_tasks_file_example_is_valid(tmp_path: Path) -> None:
    yaml_blocks = readme_blocks("yaml")
    assert yaml_blocks, "the README shows a tasks file"
    (tmp_path / "models.py").write_text("class User: ...\n")
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml_blocks[0])
    spec = spec_from_file(path, RunSettings())
    assert [task.id for task in spec.tasks] == ["schema", "api"]
    assert spec.limits.max_parallel == 20


def test_orchestrator_accepts_strings_dicts_and_tasks_and_totals_usage() -> None:
    orchestrator = ParallelOrchestrator(max_parallel=3, engine_settings={"echo": {"cost_per_1k_tokens": 1.0}})
    results = orchestrator.execute(["one", {"id": "two", "prompt": "two"}, Task(id="three", prompt="three")])
    assert results.ok
    assert results.counts[TaskState.SUCCEEDED] == 3
    two = results["two"]
    assert two is not None
    assert two.text == "echo: two"
    assert results.total_tokens == sum(r.result.usage.total_tokens for r in results if r.result)
    assert results.cost_usd == pytest.approx(results.total_tokens / 1000)


def test_counts_hold_the_states_tasks_are_in_and_read_zero_for_the_others() -> None:
    results = ParallelOrchestrator(fail_fast=False).execute(
        [
            "one",
            {"id": "bad", "prompt": "two", "engine_options": {"fail_attempts": 9, "failure_kind": "auth"}},
        ]
    )
    counts = results.counts
    assert repr(counts) == str(counts) == "{'succeeded': 1, 'failed': 1}"
    assert counts == {TaskState.SUCCEEDED: 1, TaskState.FAILED: 1}
    assert all(type(state) is TaskState for state in counts)  # the keys stay the enum's
    assert counts[TaskState.FAILED] == counts["failed"] == 1
    assert counts[TaskState.CANCELLED] == counts["cancelled"] == counts.get("cancelled") == 0
    assert counts.get("no such state") is None
    with pytest.raises(KeyError):
        counts["no such state"]
    assert sum(counts.values()) == len(results) == results.run.total
    assert json.loads(json.dumps(counts)) == {"succeeded": 1, "failed": 1}


def test_orchestrator_rejects_bad_limits_and_tasks() -> None:
    with pytest.raises(InputError):
        ParallelOrchestrator(max_parallel=0)
    with pytest.raises(InputError, match="prompt"):
        ParallelOrchestrator().execute([{"id": "x"}])


@pytest.mark.anyio
async def test_stream_yields_events_up_to_run_finished() -> None:
    types = [event.type async for event in ParallelOrchestrator().stream(["a", "b"])]
    assert types[0] == "run.created"
    assert types[-1] == "run.finished"
    assert types.count("task.output") == 2


def test_orchestrate_maps_the_prompt_function_over_inputs() -> None:
    @orchestrate(parallel=2)
    def explain(topic: str) -> str:
        return f"Explain {topic}"

    results = explain(["sets", "maps", "lists"])
    assert results.texts == ["echo: Explain sets", "echo: Explain maps", "echo: Explain lists"]
    assert results.run.name == "explain"
