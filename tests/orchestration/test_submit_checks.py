"""What a run is checked against when it is submitted, whatever surface it came from: a task's own
`engine_options` over the run's settings for its engine, engines that exist, the size of a prompt
— and a tasks file's nesting when it is read. Each refusal names what and where; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.errors import InputError, TasksFileError, UnknownEngineError
from parallelai.models import MAX_PROMPT_CHARS, RunSpec, RunState, Task, TaskOptions
from parallelai.orchestration.service import OrchestrationService
from parallelai.yamlsource import MAX_DEPTH, read_yaml

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


async def test_a_prompt_past_the_limit_is_refused_pointing_at_files(service: OrchestrationService) -> None:
    spec = RunSpec(default_engine="echo", tasks=[Task(id="huge", prompt="x" * (MAX_PROMPT_CHARS + 1))])

    with pytest.raises(InputError, match=r"task 'huge': the prompt has 1,000,001 characters.*`files`"):
        await service.submit(spec)


def test_a_tasks_file_nested_past_the_limit_is_refused_with_where_not_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("tasks: " + "[" * 5000 + "]" * 5000 + "\n")  # deeper than the parser can recurse
    shallow_enough = tmp_path / "nested.yaml"
    shallow_enough.write_text("tasks: " + "[" * 100 + "]" * 100 + "\n")

    for path in (deep, shallow_enough):
        with pytest.raises(TasksFileError, match=rf"{path.name}: nested more than {MAX_DEPTH} levels"):
            read_yaml(path)
