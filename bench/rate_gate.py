"""Bench case (i): two concurrent runs against one rate-limited provider, with the rate gate and without.

The provider is `bench/provider_sim.py` in a child process of its own (it must not share an event
loop or a CPU's worth of Python with the client it measures). Both runs go through one
`OrchestrationService`, as they would in the daemon, with the real `openai` engine pointed at the
simulator; `rate_gate: false` turns the gate off (every task sends as soon as it has a slot, and
waits out its own 429s: the fixed pool).

    python -m bench.rate_gate --n 500 --rpm 3000        # one side, then the other; prints both
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from parallelai.models import RunSpec, TaskState
from parallelai.orchestration.service import OrchestrationService

RUNS = 2


def _spec(url: str, run: int, tasks: int, parallel: int, gate: bool) -> RunSpec:
    return RunSpec.model_validate(
        {
            "default_engine": "openai:gpt-sim",
            "engine_settings": {
                "openai": {"base_url": f"{url}/v1", "api_key": "sk-bench", "rate_gate": gate}
            },
            # Today's defaults on both sides (2 retries, backoff from 1 s doubling to 60 s, never
            # sooner than the retry-after): what a user gets without tuning anything.
            "limits": {"max_parallel": parallel},
            "use_cache": False,
            "tasks": [{"id": f"t{i}", "prompt": f"run {run} task {i}: summarise it"} for i in range(tasks)],
        }
    )


async def _run_both(url: str, n: int, parallel: int, gate: bool, store: Path) -> tuple[float, int]:
    """Both runs at once through one service; the wall time from their start to the last one's end."""
    async with OrchestrationService.open(store) as service:
        specs = [_spec(url, run, n // RUNS, parallel, gate) for run in range(RUNS)]
        failed = 0
        started = time.perf_counter()

        async def one(spec: RunSpec) -> None:
            nonlocal failed
            summary = await service.run(spec)
            failed += sum(
                count for state, count in summary.counts.items() if state is not TaskState.SUCCEEDED
            )

        async with anyio.create_task_group() as group:
            for spec in specs:
                group.start_soon(one, spec)
        return time.perf_counter() - started, failed


def measure(params: dict[str, Any]) -> dict[str, float]:
    n, parallel, gate = int(params["n"]), int(params["parallel"]), bool(params["gate"])
    rpm, tpm = float(params["rpm"]), float(params["tpm"])
    command = [sys.executable, "-m", "bench.provider_sim", "--rpm", f"{rpm:g}", "--tpm", f"{tpm:g}"]
    command += ["--burst-s", f"{params['burst_s']:g}", "--latency", *(f"{x:g}" for x in params["latency"])]
    sim = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"the provider simulator did not start (said {url!r})")
        with tempfile.TemporaryDirectory(prefix="parallelai-bench-") as tmp:
            wall, failed = anyio.run(_run_both, url, n, parallel, gate, Path(tmp) / "bench.db")
        stats = httpx.get(f"{url}/stats", timeout=10).json()
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    bound = n / rpm * 60  # the N/R bound, seconds
    return {
        "wall": wall,
        "bound": bound,
        # Tasks done per second over the rate: a failed task is no throughput.
        "fraction": (n - failed) / wall / (rpm / 60),
        "failed": failed,
        "accepted": stats["accepted"],
        "refused": stats["refused"],
        "refused_share": stats["refused"] / max(stats["accepted"] + stats["refused"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.rate_gate", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=200)
    parser.add_argument("--rpm", type=float, default=3000)
    args = parser.parse_args()
    for gate in (True, False):
        params = {"n": args.n, "parallel": args.parallel, "rpm": args.rpm, "tpm": 1_000_000, "gate": gate,
                  "burst_s": 1.0, "latency": [0.2, 0.6]}  # fmt: skip
        print(json.dumps({"gate": gate, **measure(params)}), flush=True)


if __name__ == "__main__":
    main()
