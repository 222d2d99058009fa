"""The migration template is a DAG with per-item dependencies: item X waits only for item X."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from parallelai.events import TaskStateChanged
from parallelai.models import TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.run_request import RunSettings
from parallelai.templates import load_template, plan_template

pytestmark = pytest.mark.anyio


def test_each_stage_depends_only_on_the_same_file_in_the_stage_before(repo: Path) -> None:
    plan = plan_template(load_template("migration"), {}, RunSettings(engine="echo", workdir=str(repo)))

    deps = {task.id: task.depends_on for task in plan.spec.tasks}
    assert plan.spec.strategy == "dag"
    assert deps == {
        "analyse-0001": [],
        "analyse-0002": [],
        "schemas-0001": ["analyse-0001"],
        "schemas-0002": ["analyse-0002"],
        "endpoints-0001": ["schemas-0001"],
        "endpoints-0002": ["schemas-0002"],
    }
    assert [plan.tasks[t].file for t in ("schemas-0001", "schemas-0002")] == [
        "app/models.py",
        "legacy/models.py",
    ]
    assert "{{ outputs.analyse-0001 }}" in plan.spec.tasks[2].prompt


async def test_the_first_file_migrates_end_to_end_while_the_second_is_still_being_analysed(
    repo: Path, store_path: Path
) -> None:
    plan = plan_template(load_template("migration"), {}, RunSettings(engine="echo", workdir=str(repo)))
    # The second file's analysis never answers: no barrier may hold the first file back.
    tasks = [
        task.model_copy(
            update={"options": task.options.model_copy(update={"engine_options": {"hang": True}})}
        )
        if task.id == "analyse-0002"
        else task
        for task in plan.spec.tasks
    ]
    spec = plan.spec.model_copy(update={"tasks": tasks})
    order: list[tuple[str, TaskState]] = []
    async with OrchestrationService.open(store_path) as service:
        after = service.bus.last_seq
        run_id = await service.submit(spec)
        with anyio.fail_after(10):
            async with aclosing(service.events(after, run_id)) as events:
                async for event in events:
                    if isinstance(event, TaskStateChanged) and event.state in (
                        TaskState.RUNNING,
                        TaskState.SUCCEEDED,
                    ):
                        order.append((event.task_id, event.state))
                    if order and order[-1] == ("endpoints-0001", TaskState.SUCCEEDED):
                        break
        await service.cancel(run_id)

    started = [task for task, state in order if state is TaskState.RUNNING]
    finished = [task for task, state in order if state is TaskState.SUCCEEDED]
    assert finished == ["analyse-0001", "schemas-0001", "endpoints-0001"]
    assert "analyse-0002" in started
    assert "schemas-0002" not in started
    assert order.index(("analyse-0001", TaskState.SUCCEEDED)) < order.index(
        ("schemas-0001", TaskState.RUNNING)
    )
    assert order.index(("schemas-0001", TaskState.SUCCEEDED)) < order.index(
        ("endpoints-0001", TaskState.RUNNING)
    )
