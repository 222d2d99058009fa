"""A CLI agent and an API engine on one account share its rate gate: a 429 the `anthropic` engine
met holds the launch of a Claude Code agent on the same key and endpoint until its retry-after —
the real `claude` CLI, against the scripted model server, which notes when requests arrive."""

from __future__ import annotations

import anyio
import pytest

from parallelai.models import RunLimits, RunSpec, RunState, Task, TaskOptions
from parallelai.orchestration.service import OrchestrationService
from tests.ratelimits.conftest import TimedServer
from tests.support.fixtures import find_cli
from tests.support.model_server import Failure, Reply

pytestmark = pytest.mark.anyio

KEY = "sk-ant-shared-0123456789"
DEADLINE_S = 60.0


async def test_a_429_on_the_api_engine_holds_a_claude_code_launch_on_the_same_account(
    timed_server: TimedServer, service: OrchestrationService
) -> None:
    server, arrivals = timed_server.server, timed_server.arrivals
    server.script_for("[api]", Failure(429, "slow down", headers={"retry-after": "6"}))
    server.script_for("[cli]", Reply("done"))
    settings = {
        "anthropic": {"base_url": server.url, "api_key": KEY},
        "claude-code": {"binary": str(find_cli("claude")), "base_url": server.url, "api_key": KEY,
                        "inherit_config_from": "", "cli_max_retries": 0, "launch_interval_s": 0},
    }  # fmt: skip
    once = TaskOptions(retries=0)

    def run_of(task: Task) -> RunSpec:
        return RunSpec(default_engine=task.engine or "", engine_settings=settings, tasks=[task],
                       use_cache=False, limits=RunLimits())  # fmt: skip

    with anyio.fail_after(DEADLINE_S):
        api = await service.submit(
            run_of(Task(id="api", prompt="[api] hi", engine="anthropic", options=once))
        )
        assert (await service.wait(api)).state is RunState.FAILED  # the 429, not retried
        cli = await service.submit(
            run_of(Task(id="cli", prompt="[cli] hi", engine="claude-code", options=once))
        )
        assert (await service.wait(cli)).state is RunState.SUCCEEDED

    [refused_at] = arrivals.times("[api]")
    launched_at = min(arrivals.times("[cli]"))
    assert launched_at - refused_at >= 6.0  # by the server's clock: held until the retry-after
