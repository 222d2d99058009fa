"""Metrics and notifications follow the service, not the HTTP app: with monitors started next to a
service and no app serving, a finished run is notified and counted — also one another process on
the store executed, and in the real daemon process."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parallelai.client.daemon_client import DaemonClient
from parallelai.errors import InputError
from parallelai.models import RunLimits, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.monitor.monitors import Monitors
from parallelai.monitor.notify import WebhookPayload
from parallelai.monitor.notify_config import NotifyConfig
from parallelai.orchestration.service import OrchestrationService
from tests.monitor._receiver import webhook_receiver
from tests.server._process import daemon_process
from tests.server._support import echo_run

pytestmark = pytest.mark.anyio

DEADLINE_S = 20.0
DAEMON_DEADLINE_S = 60.0
DASHBOARD = "http://127.0.0.1:8787"


def _spec() -> RunSpec:
    tasks = [
        Task(id="ok", prompt="fine"),
        Task(id="broken", prompt="x", options=TaskOptions(retries=0, engine_options={"fail_attempts": 1})),
    ]
    return RunSpec(name="nightly", tasks=tasks, limits=RunLimits())


def _write_user_config(state: Path, text: str) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "config.toml").write_text(text)


async def _counted(service: OrchestrationService, monitors: Monitors) -> Callable[..., float]:
    """The metrics once they have taken in every event stored so far, as `value(name, **labels)`."""
    await service.store.flush()
    stored = await service.store.events_after(0)
    await monitors.metrics.caught_up(stored[-1].seq)
    text = monitors.metrics.render().decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    return value


async def test_a_service_with_monitors_and_no_http_app_notifies_and_counts_a_finished_run(
    tmp_path: Path,
) -> None:
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook", "dashboard_url": DASHBOARD})
        with anyio.fail_after(DEADLINE_S):
            async with (
                OrchestrationService.open(tmp_path / "db.sqlite") as service,
                Monitors.start(service, config) as monitors,
            ):
                summary = await service.run(_spec())
                [hook] = await receiver.wait_for("/hook")
                counted = await _counted(service, monitors)

    payload = WebhookPayload.model_validate(hook)
    assert payload.event == "run.failed"
    assert payload.run_id == summary.id
    assert payload.counts[TaskState.SUCCEEDED] == payload.counts[TaskState.FAILED] == 1
    assert payload.dashboard_url == f"{DASHBOARD}/#/runs/{summary.id}"
    assert counted("parallelai_runs_finished_total", state="failed") == 1
    assert counted("parallelai_tasks", state="succeeded", engine="echo") == 1
    assert counted("parallelai_tasks", state="failed", engine="echo") == 1
    assert counted("parallelai_tokens_total", engine="echo", kind="output") == summary.usage.output_tokens


async def test_a_run_another_process_executes_on_the_store_is_notified_and_counted(tmp_path: Path) -> None:
    # Why a foreground `parallelai run` needs no monitors of its own: the daemon's see its runs.
    store = tmp_path / "db.sqlite"
    async with webhook_receiver() as receiver:
        config = NotifyConfig.model_validate({"webhook": f"{receiver.url}/hook"})
        with anyio.fail_after(DEADLINE_S):
            async with OrchestrationService.open(store) as daemon, Monitors.start(daemon, config) as monitors:
                async with OrchestrationService.open(store) as foreground:
                    summary = await foreground.run(_spec())
                [hook] = await receiver.wait_for("/hook")
                counted = await _counted(daemon, monitors)

    assert summary.state is RunState.FAILED
    assert WebhookPayload.model_validate(hook).run_id == summary.id
    assert counted("parallelai_runs_finished_total", state="failed") == 1
    assert counted("parallelai_tasks", state="failed", engine="echo") == 1


async def test_without_a_webhook_there_is_no_notifier_but_metrics_still_count(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with (
            OrchestrationService.open(tmp_path / "db.sqlite") as service,
            Monitors.start(service) as monitors,
        ):
            await service.run(RunSpec(tasks=[Task(prompt="x")], limits=RunLimits()))
            counted = await _counted(service, monitors)
    assert monitors.notifier is None
    assert counted("parallelai_runs_finished_total", state="succeeded") == 1


async def test_an_error_in_the_block_reaches_the_caller_as_itself(tmp_path: Path) -> None:
    # The daemon maps InputError to exit code 2: a task group must not wrap it on the way out.
    with pytest.raises(InputError, match="bad input"):
        async with (
            OrchestrationService.open(tmp_path / "db.sqlite") as service,
            Monitors.start(service),
        ):
            raise InputError("bad input")


async def test_the_daemon_process_notifies_with_a_link_to_its_own_dashboard(
    tmp_path: Path, isolated_state: Path
) -> None:
    async with webhook_receiver() as receiver:
        _write_user_config(isolated_state, f'[notify]\nwebhook = "{receiver.url}/hook"\n')
        with anyio.fail_after(DAEMON_DEADLINE_S):
            async with daemon_process(tmp_path / "db.sqlite") as running:
                async with DaemonClient(running.info) as client:
                    run_id = (await client.create_run(echo_run(3))).id
                [hook] = await receiver.wait_for("/hook")
                running.process.send_signal(signal.SIGTERM)
                assert await running.process.wait() == 0, "\n".join(running.log)

    payload = WebhookPayload.model_validate(hook)
    assert payload.event == "run.succeeded"
    assert payload.run_id == run_id
    assert payload.total == 3
    assert payload.dashboard_url == f"{running.info.url}/#/runs/{run_id}"
