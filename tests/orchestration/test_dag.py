"""DAG execution and the checks a run's graph passes before anything is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from parallelai.errors import DependencyCycleError, InputError, UnknownDependencyError, UnknownEngineError
from parallelai.models import RunSpec, RunState, Task, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, position, run_spec, run_to_end, states

pytestmark = pytest.mark.anyio


async def test_a_task_starts_only_after_all_its_dependencies_succeeded(service: OrchestrationService) -> None:
    # A diamond with a slow branch: `join` must wait for both sides, however fast one side is.
    spec = run_spec(
        [
            echo_task("root", latency=0.01),
            echo_task("fast", depends_on=["root"]),
            echo_task("slow", depends_on=["root"], latency=0.05),
            echo_task("join", depends_on=["fast", "slow"]),
        ],
        max_parallel=4,
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    for dependency, dependent in [("root", "fast"), ("root", "slow"), ("fast", "join"), ("slow", "join")]:
        assert position(events, dependency, TaskState.SUCCEEDED) < position(
            events, dependent, TaskState.RUNNING
        )


async def test_a_dependent_sees_its_dependencies_outputs_in_its_prompt(service: OrchestrationService) -> None:
    spec = run_spec(
        [
            Task(id="a", prompt="alpha"),
            Task(id="b", prompt="beta"),
            Task(id="c", prompt="first={{ outputs.a }} all={{ output }}", depends_on=["a", "b"]),
        ]
    )

    summary, _ = await run_to_end(service, spec)

    record = await service.task(summary.id, "c")
    assert record.result is not None
    assert record.result.text == "echo: first=echo: alpha all=echo: alpha\n\necho: beta"


async def test_dependents_of_a_failed_task_are_skipped_transitively_naming_the_dependency(
    service: OrchestrationService,
) -> None:
    spec = run_spec(
        [
            echo_task("broken", fail_attempts=1, failure_kind="bad_request"),
            echo_task("child", depends_on=["broken"]),
            echo_task("grandchild", depends_on=["child"]),
            echo_task("bystander"),
        ]
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.FAILED
    records = {record.task.id: record for record in await service.tasks(summary.id)}
    assert records["broken"].state is TaskState.FAILED
    assert records["bystander"].state is TaskState.SUCCEEDED
    assert records["child"].state is TaskState.SKIPPED
    assert "broken" in (records["child"].reason or "")
    assert records["grandchild"].state is TaskState.SKIPPED
    assert "broken" in (records["grandchild"].reason or "")
    # Skipped tasks never ran.
    assert records["child"].attempts == []
    assert records["grandchild"].attempts == []
    assert ("child", TaskState.RUNNING) not in states(events)


def _run_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


async def test_a_cycle_is_rejected_naming_its_tasks_and_nothing_is_stored(
    service: OrchestrationService, store_path: Path
) -> None:
    spec = run_spec(
        [
            echo_task("start"),
            echo_task("a", depends_on=["start", "c"]),
            echo_task("b", depends_on=["a"]),
            echo_task("c", depends_on=["b"]),
        ]
    )

    with pytest.raises(DependencyCycleError) as caught:
        await service.submit(spec)

    assert set(caught.value.cycle) == {"a", "b", "c"}
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, InputError)
    for name in ("a", "b", "c"):
        assert name in str(caught.value)
    assert "start" not in caught.value.cycle
    assert _run_rows(store_path) == 0


async def test_a_task_depending_on_itself_is_a_cycle(service: OrchestrationService) -> None:
    with pytest.raises(DependencyCycleError) as caught:
        await service.submit(run_spec([echo_task("loop", depends_on=["loop"])]))

    assert caught.value.cycle == ("loop",)


@pytest.mark.parametrize(
    ("spec", "error", "words"),
    [
        (
            run_spec([echo_task("build"), echo_task("test", depends_on=["biuld"])]),
            UnknownDependencyError,
            ["'test'", "'biuld'", "did you mean 'build'"],
        ),
        (run_spec([echo_task("same"), echo_task("same")]), InputError, ["'same'", "unique"]),
        (
            RunSpec(tasks=[Task(id="t", prompt="hi", engine="ecoh")]),
            UnknownEngineError,
            ["'ecoh'", "did you mean 'echo'", "command"],
        ),
        (
            RunSpec(tasks=[Task(id="t", prompt="Hello {{ nmae }}", inputs={"name": "Ada"})]),
            InputError,
            ["'t'", "nmae", "name"],
        ),
        (
            RunSpec(
                tasks=[Task(id="t", prompt="{{ outputs.other }}", depends_on=["u"]), Task(id="u", prompt="x")]
            ),
            InputError,
            ["outputs.other"],
        ),
        (RunSpec(tasks=[]), InputError, ["at least one task"]),
        (
            RunSpec(tasks=[Task(id="t", prompt="x", files=["missing.txt"])]),
            InputError,
            ["missing.txt", "'t'"],
        ),
        (RunSpec(tasks=[Task(id="t", prompt="x", files=["../outside.txt"])]), InputError, ["outside"]),
    ],
    ids=[
        "unknown-dependency",
        "duplicate-id",
        "unknown-engine",
        "unknown-placeholder",
        "unknown-output",
        "no-tasks",
        "missing-file",
        "file-outside-workspace",
    ],
)
async def test_bad_input_is_refused_with_a_message_naming_the_problem_and_nothing_is_stored(
    service: OrchestrationService,
    store_path: Path,
    tmp_path: Path,
    spec: RunSpec,
    error: type[InputError],
    words: list[str],
) -> None:
    (tmp_path / "outside.txt").write_text("not in the workspace")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    spec = spec.model_copy(update={"workdir": str(workspace)})

    with pytest.raises(error) as caught:
        await service.submit(spec)

    assert caught.value.exit_code == 2
    for word in words:
        assert word in str(caught.value)
    assert _run_rows(store_path) == 0
    assert await service.store.last_seq() == 0


async def test_bad_engine_settings_are_input_errors_and_nothing_is_stored(
    service: OrchestrationService, store_path: Path
) -> None:
    spec = RunSpec(tasks=[Task(id="t", prompt="x")], engine_settings={"echo": {"latncy": 1}})

    with pytest.raises(InputError, match="latncy"):
        await service.submit(spec)

    assert _run_rows(store_path) == 0


async def test_a_plain_prompt_with_braces_is_left_alone(service: OrchestrationService) -> None:
    summary, _ = await run_to_end(
        service, run_spec([Task(id="t", prompt="what does {{ x }} mean in Jinja?")])
    )

    record = await service.task(summary.id, "t")
    assert record.result is not None
    assert record.result.text == "echo: what does {{ x }} mean in Jinja?"


async def test_unnamed_tasks_get_ids_by_position(service: OrchestrationService) -> None:
    summary, _ = await run_to_end(service, RunSpec(tasks=[Task(prompt="one"), Task(prompt="two")]))

    assert [record.task.id for record in await service.tasks(summary.id)] == ["t001", "t002"]
