"""`/metrics` parses as Prometheus text and agrees with the store after a run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parallelai.models import RunState, TaskState
from parallelai.wire import RunCreated
from tests.orchestration._support import wait_for_state
from tests.server._support import DEADLINE_S, FAILED_DAG, RETRYING_AND_BUSY, Harness, parse

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_match_the_store_after_a_run(daemon: Harness) -> None:
    work = {
        "strategy": "parallel",
        "tasks": [
            *({"prompt": f"ok {index}"} for index in range(12)),
            {"id": "flaky", "prompt": "x", "options": {"retries": 1, "engine_options": {"fail_attempts": 1}}},
            {
                "id": "broken",
                "prompt": "y",
                "options": {"retries": 0, "engine_options": {"fail_attempts": 1}},
            },
        ],
    }
    body = {
        "work": work,
        "engines": {"echo": {"cost_per_1k_tokens": 2.0}},
        "backoff_base_s": 0.001,
    }
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=body), RunCreated).id
        summary = await daemon.service.wait(run_id)
        stored = await daemon.service.store.events_after(0)
        # The metrics follow the bus on their own; wait until they have taken in the last event.
        await daemon.app.state.metrics.caught_up(stored[-1].seq)
        response = await daemon.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    for state in TaskState:
        assert value("parallelai_tasks", state=state.value, engine="echo") == summary.counts[state], state
    assert value("parallelai_concurrency") == 0
    assert value("parallelai_queue_depth") == 0
    assert value("parallelai_tokens_total", engine="echo", kind="input") == summary.usage.input_tokens
    assert value("parallelai_tokens_total", engine="echo", kind="output") == summary.usage.output_tokens
    assert value("parallelai_cost_usd_total", engine="echo") == pytest.approx(summary.usage.cost_usd)
    assert value("parallelai_task_retries_total", engine="echo", error_kind="transient") == 1
    assert value("parallelai_runs_finished_total", state=summary.state.value) == 1
    finished = summary.counts[TaskState.SUCCEEDED] + summary.counts[TaskState.FAILED]
    assert (
        value("parallelai_task_duration_seconds_count", engine="echo", state="succeeded")
        + value("parallelai_task_duration_seconds_count", engine="echo", state="failed")
        == finished
    )


async def test_metrics_need_the_token(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.raw.get("/metrics")
    assert response.status_code == 401


GRAFANA = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


async def test_the_grafana_dashboard_only_uses_metrics_the_daemon_exports(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json={"prompts": ["x"]}), RunCreated).id
        await daemon.service.wait(run_id)
        text = (await daemon.http.get("/metrics")).text
    exported = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    exported |= {family.name for family in text_string_to_metric_families(text)}
    dashboard = json.loads(GRAFANA.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expression in expressions for name in re.findall(r"parallelai_[a-z_]+", expression)}
    assert used
    # Counters are exported as NAME_total; a family that has no sample yet still has its HELP line.
    missing = {name for name in used if name not in exported and name not in text}
    assert not missing, missing


async def _metrics_now(daemon: Harness) -> Callable[..., float]:
    """The metrics once they have taken in every event stored so far, as `value(name, **labels)`."""
    await daemon.service.store.flush()
    stored = await daemon.service.store.events_after(0)
    await daemon.app.state.metrics.caught_up(stored[-1].seq)
    samples = _samples((await daemon.http.get("/metrics")).text)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    return value


async def test_a_task_waiting_out_a_retry_backoff_counts_as_retrying_not_running(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=RETRYING_AND_BUSY), RunCreated).id
        await wait_for_state(daemon.service, run_id, "flaky", TaskState.RETRYING)
        await wait_for_state(daemon.service, run_id, "busy", TaskState.RUNNING)
        during = await _metrics_now(daemon)
        await daemon.http.post(f"/v1/runs/{run_id}/cancel")
        await daemon.service.wait(run_id)
        after = await _metrics_now(daemon)

    assert during("parallelai_concurrency") == 1
    assert during("parallelai_retrying") == 1
    assert during("parallelai_tasks", state="retrying", engine="echo") == 1
    assert during("parallelai_tasks", state="running", engine="echo") == 1
    assert after("parallelai_concurrency") == 0
    assert after("parallelai_retrying") == 0
    assert after("parallelai_tasks", state="retrying", engine="echo") == 0
    assert after("parallelai_tasks", state="cancelled", engine="echo") == 2


async def test_retrying_a_failed_run_moves_its_tasks_out_of_failed_in_the_task_gauge(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=FAILED_DAG), RunCreated).id
        failed = await daemon.service.wait(run_id)
        before = await _metrics_now(daemon)
        retried = await daemon.http.post(f"/v1/runs/{run_id}/retry")
        assert retried.status_code == 200, retried.text
        succeeded = await daemon.service.wait(run_id)
        after = await _metrics_now(daemon)

    assert failed.state is RunState.FAILED
    assert before("parallelai_tasks", state="failed", engine="echo") == 1
    assert before("parallelai_tasks", state="skipped", engine="echo") == 1
    assert succeeded.state is RunState.SUCCEEDED
    for state in TaskState:
        expected = 3 if state is TaskState.SUCCEEDED else 0
        assert after("parallelai_tasks", state=state.value, engine="echo") == expected, state
    assert after("parallelai_runs_finished_total", state="failed") == 1
    assert after("parallelai_runs_finished_total", state="succeeded") == 1
