"""`/metrics` parses as Prometheus text and agrees with the store after a run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parallelai.models import TaskState
from parallelai.server.http.schemas import RunCreated
from tests.server._support import DEADLINE_S, Harness, parse

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
        "engine_settings": {"echo": {"cost_per_1k_tokens": 2.0}},
        "limits": {"backoff_base_s": 0.001},
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
