"""A task's own `engine_options` are checked when the run is submitted, over the run's settings for
its engine: a bad value is refused with the task and the setting named, and nothing is stored."""

from __future__ import annotations

import pytest

from parallelai.errors import InputError, UnknownEngineError
from parallelai.models import RunSpec, RunState, Task, TaskOptions
from parallelai.orchestration.service import OrchestrationService

pytestmark = pytest.mark.anyio


async def test_a_task_s_out_of_range_engine_option_is_refused_at_submit(
    service: OrchestrationService,
) -> None:
    huge = Task(id="big", prompt="hi", options=TaskOptions(engine_options={"output_size": 10**14}))
    spec = RunSpec(default_engine="echo", tasks=[Task(id="fine", prompt="hi"), huge])

    with pytest.raises(InputError, match=r"task 'big': engine_options for echo: output_size: .*16777216"):
        await service.submit(spec)

    assert await service.list_runs(None, 10) == []


async def test_options_that_are_fine_over_the_run_s_settings_pass(service: OrchestrationService) -> None:
    task = Task(id="t", prompt="hi", options=TaskOptions(engine_options={"latency": 0}))
    spec = RunSpec(default_engine="echo", engine_settings={"echo": {"reply": "ok"}}, tasks=[task])

    summary = await service.wait(await service.submit(spec))

    assert summary.state is RunState.SUCCEEDED


async def test_settings_for_an_engine_that_does_not_exist_are_refused_naming_the_closest(
    service: OrchestrationService,
) -> None:
    spec = RunSpec(
        default_engine="echo", engine_settings={"clade-code": {"model": "x"}}, tasks=[Task(prompt="hi")]
    )

    with pytest.raises(UnknownEngineError, match="did you mean 'claude-code'"):
        await service.submit(spec)
