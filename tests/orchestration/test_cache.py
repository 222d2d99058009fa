"""Incremental re-runs: a task whose inputs are unchanged since it succeeded is reused, not re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.events import RunFinished, TaskStateChanged
from parallelai.models import RunSpec, RunState, Task, TaskOptions, TaskState, Usage
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, run_spec, run_to_end
from tests.support.model_server import Reply, ScriptedModelServer, default_dialects

pytestmark = pytest.mark.anyio


def _spec(workdir: Path | None = None, **update: object) -> RunSpec:
    tasks = [echo_task("a"), echo_task("b"), echo_task("c", depends_on=["a", "b"])]
    spec = run_spec(tasks).model_copy(update={"workdir": str(workdir) if workdir else None})
    return spec.model_copy(update=update)


async def test_the_same_run_twice_reuses_every_task_without_new_attempts(
    service: OrchestrationService,
) -> None:
    first, _ = await run_to_end(service, _spec())

    second, events = await run_to_end(service, _spec())

    assert first.reused == 0
    assert second.state is RunState.SUCCEEDED
    assert second.reused == 3
    records = await service.tasks(second.id)
    assert all(record.attempts == [] for record in records)
    assert all(record.result is not None and record.result.reused for record in records)
    assert all(record.reason == "reused from cache" for record in records)
    firsts = {record.task.id: record.result for record in await service.tasks(first.id)}
    assert {r.task.id: r.result.text for r in records if r.result} == {
        k: v.text for k, v in firsts.items() if v
    }
    succeeded = [e for e in events if isinstance(e, TaskStateChanged) and e.state is TaskState.SUCCEEDED]
    assert len(succeeded) == 3
    assert all(event.reused for event in succeeded)
    assert not [e for e in events if isinstance(e, TaskStateChanged) and e.state is TaskState.RUNNING]
    # Reused answers cost this run nothing, and the summary and the final event agree on that.
    assert first.usage.total_tokens > 0
    assert second.usage == Usage()
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.usage == second.usage


async def test_changing_an_input_file_reruns_only_the_task_that_reads_it(
    service: OrchestrationService, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("first version")
    (tmp_path / "b.txt").write_text("unchanged")
    tasks = [
        Task(id="reads-a", prompt="summarise a.txt", files=["a.txt"]),
        Task(id="reads-b", prompt="summarise b.txt", files=["b.txt"]),
    ]
    spec = RunSpec(tasks=tasks, workdir=str(tmp_path))
    await run_to_end(service, spec)

    (tmp_path / "a.txt").write_text("second version")
    summary, _ = await run_to_end(service, spec)

    assert summary.reused == 1
    records = {record.task.id: record for record in await service.tasks(summary.id)}
    assert len(records["reads-a"].attempts) == 1
    assert records["reads-a"].result is not None
    assert not records["reads-a"].result.reused
    assert records["reads-b"].attempts == []
    assert records["reads-b"].result is not None
    assert records["reads-b"].result.reused


async def test_use_cache_false_runs_every_task_again(service: OrchestrationService) -> None:
    await run_to_end(service, _spec())

    summary, _ = await run_to_end(service, _spec(use_cache=False))

    assert summary.reused == 0
    assert all(len(record.attempts) == 1 for record in await service.tasks(summary.id))


async def test_a_changed_prompt_or_engine_option_misses_the_cache_but_a_changed_retry_count_does_not(
    service: OrchestrationService,
) -> None:
    base = Task(id="t", prompt="hello", options=TaskOptions(engine_options={"reply": "A {prompt}"}))
    await run_to_end(service, RunSpec(tasks=[base]))

    variants = {
        "prompt": base.model_copy(update={"prompt": "hello!"}),
        "engine option": base.model_copy(
            update={"options": TaskOptions(engine_options={"reply": "B {prompt}"})}
        ),
        "retries": base.model_copy(update={"options": base.options.model_copy(update={"retries": 7})}),
    }
    reused = {}
    for name, task in variants.items():
        summary, _ = await run_to_end(service, RunSpec(tasks=[task]))
        reused[name] = summary.reused

    assert reused == {"prompt": 0, "engine option": 0, "retries": 1}


async def test_a_failed_task_is_never_reused(service: OrchestrationService) -> None:
    spec = run_spec([echo_task("broken", fail_attempts=1, failure_kind="execution")])
    await run_to_end(service, spec)

    summary, _ = await run_to_end(service, spec)

    assert summary.reused == 0
    assert len((await service.task(summary.id, "broken")).attempts) == 1


async def test_a_changed_endpoint_misses_the_cache_and_the_same_endpoint_hits_it(
    service: OrchestrationService, model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint comes from the environment, as a user switching ANTHROPIC_BASE_URL does: the
    # run's own settings (already part of the key) stay the same throughout.
    spec = RunSpec(
        tasks=[Task(id="hello", prompt="say hello")],
        default_engine="anthropic:claude-sonnet-4-5",
        engine_settings={"anthropic": {"api_key": "sk-ant-api-test-abcdef0123456789"}},
    )
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    model_server.script(Reply("from the first endpoint"))
    first, _ = await run_to_end(service, spec)
    again, _ = await run_to_end(service, spec)

    with ScriptedModelServer(default_dialects()) as other:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", other.url)
        other.script(Reply("from the second endpoint"))
        moved, _ = await run_to_end(service, spec)
        assert len(other.requests) == 1

    assert first.state is again.state is moved.state is RunState.SUCCEEDED
    assert len(model_server.requests) == 1  # the second run made no model call
    assert (first.reused, again.reused, moved.reused) == (0, 1, 0)
    [answer] = await service.tasks(moved.id)
    assert answer.result is not None
    assert answer.result.text == "from the second endpoint"


async def test_the_cache_key_never_holds_an_api_key_in_clear() -> None:
    from parallelai.engines.anthropic import AnthropicEngine
    from parallelai.engines.base import answer_source

    secret = "sk-ant-api-test-abcdef0123456789"
    engine = AnthropicEngine({"api_key": secret, "base_url": "http://127.0.0.1:9"})
    try:
        source = await answer_source(engine, None)
    finally:
        await engine.aclose()
    assert source == {"engine": "anthropic", "model": "claude-sonnet-4-5", "endpoint": "http://127.0.0.1:9"}
    assert secret not in repr(source)
