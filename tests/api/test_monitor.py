"""`orchestrator.monitor(...)`: the daemon's dashboard, metrics and notifications follow the script's runs."""

from __future__ import annotations

import anyio
import httpx
import pytest

from parallelai import ParallelOrchestrator
from parallelai.client.discovery import read_discovery
from parallelai.errors import InputError
from parallelai.server.auth import COOKIE_NAME
from tests.support.polling import until

DEADLINE_S = 30.0


def test_monitor_returns_a_dashboard_and_metrics_that_answer_for_the_run_executed_after_it() -> None:
    orchestrator = ParallelOrchestrator(engine="echo", max_parallel=100, strategy="parallel")

    # As announced, except port 0: a free port, so that tests never collide on 8080.
    monitoring = orchestrator.monitor(dashboard="web", notifications="slack", metrics=True, port=0)
    results = orchestrator.execute(["Summarise a.py", "Summarise b.py"])

    info = read_discovery()
    assert info is not None
    assert monitoring.daemon_url == info.url
    token = {"Authorization": f"Bearer {info.token}"}
    assert monitoring.dashboard_url is not None
    assert monitoring.metrics_url is not None
    with httpx.Client(base_url=info.url, timeout=10.0) as http:
        login = http.get(monitoring.dashboard_url)
        assert login.status_code == 303
        assert COOKIE_NAME in http.cookies
        page = http.get("/")  # with the cookie the one-time link set
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        run = http.get(f"/v1/runs/{results.run_id}", headers=token)
        assert run.status_code == 200
        assert run.json()["state"] == "succeeded"

        def run_counted() -> bool:
            metrics = http.get(monitoring.metrics_url or "", headers=token)
            assert metrics.status_code == 200
            return 'parallelai_runs_finished_total{state="succeeded"} 1.0' in metrics.text

        # The daemon learns of runs other processes execute from the shared store.
        anyio.run(until, run_counted, DEADLINE_S)
    assert httpx.get(monitoring.metrics_url).status_code == 401  # the token is what lets one in
    [slack] = monitoring.notifications
    assert slack.startswith("slack: no webhook configured; set [notify] slack_webhook")


def test_monitor_refuses_a_dashboard_it_does_not_have_before_starting_anything() -> None:
    with pytest.raises(InputError, match="choose one of web, terminal, grafana"):
        ParallelOrchestrator(engine="echo").monitor(dashboard="kibana")
    assert read_discovery() is None
