"""The daemon's rate gates, seen from outside: `GET /v1/rate-gates` and `/metrics` after a run on an
account whose limits the settings give, and the line `parallelai engines` prints for each."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from parallelai.cli.rate_gates_view import gate_line
from parallelai.models import RunState
from parallelai.wire import RateGateOut
from tests.server._support import DEADLINE_S, parse, running_app
from tests.support.model_server import Reply, ScriptedModelServer, default_dialects

pytestmark = pytest.mark.anyio


async def test_the_gate_a_run_used_is_listed_with_its_limits_and_counts_and_without_the_key(
    tmp_path: Path,
) -> None:
    with ScriptedModelServer(default_dialects()) as server:
        server.script(Reply("ok"))
        endpoint = f"{server.url}/v1"
        async with running_app(tmp_path / "db.sqlite") as daemon:
            body = {
                "prompts": ["hello"],
                "engine": "openai:gpt-4.1",
                "engines": {
                    "openai": {
                        "base_url": endpoint,
                        "api_key": "sk-test-0123456789",
                        "rate_limits": {"requests_per_minute": 500},
                    }
                },
            }
            created = await daemon.http.post("/v1/runs", json=body)
            assert created.status_code == 201, created.text
            with anyio.fail_after(DEADLINE_S):
                summary = await daemon.service.wait(created.json()["id"])
            assert summary.state is RunState.SUCCEEDED

            gates = parse(await daemon.http.get("/v1/rate-gates"), list[RateGateOut])
            scraped = (await daemon.http.get("/metrics")).text

    [gate] = gates
    assert (gate.provider, gate.endpoint) == ("openai", endpoint)
    assert len(gate.key_id) == 12
    assert "sk-test" not in gate.model_dump_json()
    assert gate.learnt
    assert gate.limits["requests"] == 500
    assert (gate.admitted, gate.refused) == (1, 0)
    account = f'endpoint="{endpoint}",key="{gate.key_id}",provider="openai"'  # labels as exposed: sorted
    assert f'parallelai_rate_gate_limit_per_minute{{dimension="requests",{account}}} 500.0' in scraped
    assert f"parallelai_rate_gate_admitted_total{{{account}}} 1.0" in scraped
    assert f"parallelai_rate_gate_paused_seconds{{{account}}} 0.0" in scraped


def test_a_gate_s_line_says_its_limits_and_whether_it_is_paused() -> None:
    gate = RateGateOut(
        provider="anthropic",
        endpoint="https://api.anthropic.com",
        key_id="1a2b3c4d5e6f",
        learnt=True,
        limits={"requests": 50, "input_tokens": 30000},
        remaining={"requests": 12},
        available={"requests": 12, "input_tokens": 30000},
        paused_until=1000.0 + 30,
        waiting=4,
        admitted=88,
        refused=2,
    )

    assert gate_line(gate, now=1000.0) == (
        "  anthropic at https://api.anthropic.com key 1a2b3c4d5e6f: 12/50 requests/min, "
        "30000/30000 input tokens/min · 88 sent · 2 refused (429) · 4 waiting · paused 30 s"
    )
