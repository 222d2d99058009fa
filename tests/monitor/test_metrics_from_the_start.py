"""`/metrics` as Prometheus needs it: every known series exported at 0 before the first event, a
build-info gauge, and a scrape token that opens `/metrics` only and outlives daemon restarts."""

from __future__ import annotations

import json
import platform
import re
import stat
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parallelai._version import __version__
from parallelai.errors import ConfigError
from parallelai.models import ErrorKind, TaskState
from parallelai.monitor.metrics import RunMetrics
from parallelai.monitor.scrape_token import load_scrape_token, scrape_token_path
from tests.server._process import daemon_process
from tests.server._support import running_app

pytestmark = pytest.mark.anyio

DEADLINE_S = 20.0
DAEMON_DEADLINE_S = 60.0
GRAFANA = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _has(samples: Samples, name: str, value: float = 0.0, **labels: str) -> bool:
    return samples.get((name, frozenset(labels.items()))) == value


def test_every_known_series_is_exported_at_zero_before_any_event() -> None:
    samples = _samples(RunMetrics(["echo", "claude-code"]).render().decode())

    for engine in ("echo", "claude-code"):
        assert _has(samples, "parallelai_cost_usd_total", engine=engine)
        assert _has(samples, "parallelai_rate_limited_total", engine=engine)
        assert _has(samples, "parallelai_tokens_total", engine=engine, kind="input")
        assert _has(samples, "parallelai_tokens_total", engine=engine, kind="output")
        for kind in ErrorKind:
            exported = (
                "parallelai_task_retries_total",
                frozenset({"engine": engine, "error_kind": kind}.items()),
            )
            assert (exported in samples) is kind.retryable, kind  # a task is retried for these only
        for state in TaskState:
            assert _has(samples, "parallelai_tasks", engine=engine, state=state)
            counted = (
                "parallelai_task_duration_seconds_count",
                frozenset({"engine": engine, "state": state}.items()),
            )
            assert (samples.get(counted) == 0.0) is state.is_final, state
    for run_state in ("succeeded", "failed", "cancelled", "interrupted"):
        assert _has(samples, "parallelai_runs_finished_total", state=run_state)


def test_the_build_info_gauge_names_the_version_and_python() -> None:
    samples = _samples(RunMetrics().render().decode())
    assert _has(samples, "parallelai_build_info", 1.0, version=__version__, python=platform.python_version())


async def test_the_daemons_metrics_start_at_zero_for_every_installed_engine(tmp_path: Path) -> None:
    async with running_app(tmp_path / "db.sqlite") as daemon:
        with anyio.fail_after(DEADLINE_S):
            samples = _samples((await daemon.http.get("/metrics")).text)
        engines = daemon.service.registry.names()
    assert "echo" in engines
    for engine in engines:
        assert _has(samples, "parallelai_tokens_total", engine=engine, kind="output")
        assert _has(samples, "parallelai_tasks", engine=engine, state="running")


async def test_the_scrape_token_opens_metrics_and_nothing_else(tmp_path: Path) -> None:
    async with running_app(tmp_path / "db.sqlite") as daemon:
        scrape = {"Authorization": f"Bearer {daemon.monitors.scrape_token}"}
        with anyio.fail_after(DEADLINE_S):
            metrics = await daemon.raw.get("/metrics", headers=scrape)
            runs = await daemon.raw.get("/v1/runs", headers=scrape)
            wrong = await daemon.raw.get("/metrics", headers={"Authorization": "Bearer nope"})
            with_api_token = await daemon.http.get("/metrics")
    assert metrics.status_code == 200
    assert "parallelai_build_info" in metrics.text
    assert runs.status_code == 401
    assert wrong.status_code == 401
    assert with_api_token.status_code == 200
    assert daemon.monitors.scrape_token != daemon.token


async def test_the_scrape_token_is_kept_in_the_state_dir_readable_by_its_owner_only(
    tmp_path: Path, isolated_state: Path
) -> None:
    async with running_app(tmp_path / "db.sqlite") as first:
        token = first.monitors.scrape_token
    async with running_app(tmp_path / "db.sqlite") as second:
        assert second.monitors.scrape_token == token
        assert second.token != first.token  # the API token is still new at every start

    path = scrape_token_path()
    assert path.parent == isolated_state
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_scrape_token_written_by_hand_is_used_and_made_private(isolated_state: Path) -> None:
    isolated_state.mkdir(mode=0o700)
    path = scrape_token_path()
    path.write_text("my-own-prometheus-token-0123456789\n")
    path.chmod(0o644)
    assert load_scrape_token() == "my-own-prometheus-token-0123456789"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_scrape_token_too_short_to_be_safe_is_refused_with_what_to_do(isolated_state: Path) -> None:
    isolated_state.mkdir(mode=0o700)
    scrape_token_path().write_text("secret\n")
    with pytest.raises(ConfigError, match=r"fewer than 24.*delete the file"):
        load_scrape_token()


@pytest.mark.e2e
async def test_prometheus_keeps_scraping_with_the_same_token_after_the_daemon_restarts(
    tmp_path: Path,
) -> None:
    store = tmp_path / "db.sqlite"
    statuses: list[int] = []
    tokens: list[str] = []
    with anyio.fail_after(DAEMON_DEADLINE_S):
        for _ in range(2):
            async with daemon_process(store) as daemon:
                # What a Prometheus `credentials_file` holds: the file's content, read afresh.
                token = scrape_token_path().read_text().strip()
                async with httpx.AsyncClient(base_url=daemon.info.url) as http:
                    response = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                statuses.append(response.status_code)
                tokens.append(token)
                daemon.process.terminate()
                await daemon.process.wait()
    assert statuses == [200, 200]
    assert tokens[0] == tokens[1]


def test_the_grafana_dashboard_filters_every_engine_labelled_series_by_the_engine_variable() -> None:
    dashboard = json.loads(GRAFANA.read_text())
    [engine] = [variable for variable in dashboard["templating"]["list"] if variable["name"] == "engine"]
    assert engine["includeAll"]
    assert engine["multi"]
    samples = _samples(RunMetrics(["echo"]).render().decode())
    labelled = {name for name, labels in samples if any(key == "engine" for key, _ in labels)}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name, selector in re.findall(r"(parallelai_[a-z_]+)(\{[^}]*\})?", target["expr"]):
                if name in labelled:
                    assert selector == '{engine=~"$engine"}', (panel["title"], target["expr"])
    units = {
        panel["title"]: panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        for panel in dashboard["panels"]
    }
    assert units["Cost / min (USD)"] == "currencyUSD"
    assert units["Task duration p50 / p99"] == "s"
    assert units["Throughput (tasks finished / s)"] == "suffix: tasks/s"
