"""`parallelai run --engine claude-code --parallel 20` with 50 prompts, against the scripted model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import find_cli
from tests.support.model_server import Reply, ScriptedModelServer, default_dialects

pytestmark = pytest.mark.e2e

TASKS = 50


def test_fifty_claude_code_tasks_twenty_at_a_time_all_succeed_with_per_task_cost_and_a_total(
    tmp_path: Path,
) -> None:
    claude = find_cli("claude")
    prompts = [f"[p{i:02d}] summarise item {i}" for i in range(TASKS)]
    with ScriptedModelServer(default_dialects()) as server:
        for i in range(TASKS):
            # Keyed by the marker in each prompt, so every task gets its own answer whatever the order.
            server.script_for(
                f"[p{i:02d}]", Reply(f"summary {i:02d}", input_tokens=100 + i, output_tokens=10)
            )
        options = {
            "binary": str(claude),
            "base_url": server.url,
            "api_key": "sk-ant-e2e-0123456789",
            "inherit_config_from": "",
            "cli_max_retries": 0,
            "launch_interval_s": 0.02,
        }
        argv = [str(Path(sys.executable).parent / "parallelai"), "run", "--engine", "claude-code", "--parallel", "20",
                "--json"]  # fmt: skip
        for key, value in options.items():
            argv += ["-E", f"{key}={value}"]
        env = {**os.environ, "PARALLELAI_STATE_DIR": str(tmp_path / "state")}
        completed = subprocess.run(
            [*argv, *prompts], env=env, capture_output=True, text=True, timeout=600, check=False
        )

    assert completed.returncode == 0, completed.stderr[-2000:]
    run = json.loads(completed.stdout)
    assert run["counts"]["succeeded"] == TASKS
    answers = {task["result"]["text"] for task in run["tasks"]}
    assert answers == {f"summary {i:02d}" for i in range(TASKS)}
    costs = [task["result"]["usage"]["cost_usd"] for task in run["tasks"]]
    assert all(cost > 0 for cost in costs)
    assert run["usage"]["cost_usd"] == pytest.approx(sum(costs))
    assert run["usage"]["input_tokens"] == sum(100 + i for i in range(TASKS))
