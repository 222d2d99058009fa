"""The API under load: `GET /v1/runs?limit=50` latency while a run and many SSE clients keep the
daemon busy, next to the same request at rest, and the daemon's RSS before and after the run.

A real daemon runs as a child process on a loopback port (a fresh state dir and store). First
`--warm` runs of a few tasks give the list something to list and the daemon its steady imports;
then the list is timed at rest; then `--clients` SSE clients follow every event (`/v1/events`,
each reading and parsing what it is sent) while one run of `--tasks` echo tasks (`--latency`
each, `--parallel` at once) executes and the list is asked for back to back. After the run the
clients leave, the daemon is given a moment, and its RSS is read from /proc again.

    .venv/bin/python -m bench.api_load              # 1,000 tasks, 50 SSE clients (~15 s)
    .venv/bin/python -m bench.api_load --quick      # 300 tasks, 20 SSE clients (~6 s)

The exit code is 0 when the busy p99 is at most 50 ms and the RSS after is within 10 % of before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

TARGET_P99_MS = 50.0
TARGET_RSS_GROWTH = 0.10
LIST = "/v1/runs?limit=50"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _run_body(tasks: int, parallel: int, latency: float, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "engine": "echo",
        "engine_options": {"latency": latency},
        "prompts": [f"prompt {index}" for index in range(tasks)],
        "parallel": parallel,
        "use_cache": False,
    }


async def _wait_finished(http: httpx.AsyncClient, run_id: str) -> None:
    from parallelai.client.sse import sse_messages

    async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
        response.raise_for_status()
        async for message in sse_messages(response):
            if message.event == "run.finished":
                return


async def _time_list(http: httpx.AsyncClient, samples: list[float]) -> None:
    started = time.perf_counter()
    response = await http.get(LIST)
    samples.append((time.perf_counter() - started) * 1000)
    response.raise_for_status()


async def follow(url: str, token: str, run_id: str, clients: int) -> None:
    """`clients` SSE clients following every event until the run finishes (in a process of their
    own, so parsing their events never delays the timed requests)."""
    from parallelai.client.sse import sse_messages

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients)

    async def one(http: httpx.AsyncClient) -> None:
        async with http.stream("GET", "/v1/events") as response:
            response.raise_for_status()
            async for message in sse_messages(response):
                event = json.loads(message.data)
                if event["run_id"] == run_id and event["type"] == "run.finished":
                    return

    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=None, limits=limits) as http,
        anyio.create_task_group() as group,
    ):
        for _ in range(clients):
            group.start_soon(one, http)


async def measure(
    tasks: int, clients: int, parallel: int, latency: float, warm: int, settle_s: float
) -> dict[str, Any]:
    from parallelai.client.launcher import start_detached, stop_daemon

    with tempfile.TemporaryDirectory(prefix="parallelai-api-bench-") as tmp:
        os.environ["PARALLELAI_STATE_DIR"] = tmp
        info = await start_detached("127.0.0.1", 0, Path(tmp) / "bench.db")
        try:
            headers = {"Authorization": f"Bearer {info.token}"}
            async with httpx.AsyncClient(base_url=info.url, headers=headers, timeout=None) as http:
                # Earlier runs to list, and the daemon's imports and pools warmed up.
                for index in range(warm):
                    created = await http.post("/v1/runs", json=_run_body(20, 20, 0.0, f"warm-{index}"))
                    created.raise_for_status()
                    await _wait_finished(http, created.json()["id"])
                idle: list[float] = []
                for _ in range(100):
                    await _time_list(http, idle)
                await anyio.sleep(settle_s)
                rss_before = rss_mb(info.pid)

                busy: list[float] = []
                body = _run_body(tasks, parallel, latency, "under-load")
                created = await http.post("/v1/runs", json=body)
                created.raise_for_status()
                run_id = created.json()["id"]
                started = time.perf_counter()
                command = [sys.executable, "-m", "bench.api_load", "--follow", info.url, info.token, run_id]
                followers = await anyio.open_process([*command, str(clients)], stdout=None, stderr=None)
                async with followers:
                    # Ask for the list back to back until every client has seen the run finish.
                    while followers.returncode is None:
                        await _time_list(http, busy)
                    if await followers.wait() != 0:
                        raise RuntimeError("an SSE client failed")
                run_s = time.perf_counter() - started
                await _wait_finished(http, run_id)
            await anyio.sleep(settle_s)  # the daemon's own clean-up after the clients leave
            rss_after = rss_mb(info.pid)
        finally:
            await stop_daemon()
    return {
        "idle": idle,
        "busy": busy,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "run_s": run_s,
        "clients": clients,
    }


def summarise(found: dict[str, Any]) -> dict[str, float]:
    idle, busy = found["idle"], found["busy"]
    return {
        "idle_p50": statistics.median(idle),
        "idle_p99": percentile(idle, 0.99),
        "busy_p50": statistics.median(busy),
        "busy_p99": percentile(busy, 0.99),
        "busy_max": max(busy),
        "requests": len(busy),
        "rss_before": found["rss_before"],
        "rss_after": found["rss_after"],
        "run_s": found["run_s"],
        "clients": found["clients"],
    }


def passed(summary: dict[str, float]) -> bool:
    growth = summary["rss_after"] / summary["rss_before"] - 1
    return summary["busy_p99"] <= TARGET_P99_MS and growth <= TARGET_RSS_GROWTH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50, help="SSE clients following every event")
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per echo task")
    parser.add_argument("--quick", action="store_true", help="300 tasks, 20 SSE clients")
    parser.add_argument(
        "--follow", nargs=4, metavar=("URL", "TOKEN", "RUN", "CLIENTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.follow:
        url, token, run_id, clients = args.follow
        anyio.run(follow, url, token, run_id, int(clients))
        return 0
    if args.quick:
        args.tasks, args.clients = 300, 20
    summary = summarise(anyio.run(measure, args.tasks, args.clients, args.parallel, args.latency, 3, 1.0))
    growth = summary["rss_after"] / summary["rss_before"] - 1
    print(
        f"GET {LIST}: idle p50 {summary['idle_p50']:.1f} ms, p99 {summary['idle_p99']:.1f} ms; during "
        f"{args.tasks:,} tasks with {summary['clients']:.0f} SSE clients ({summary['run_s']:.1f} s, "
        f"{summary['requests']:.0f} requests): p50 {summary['busy_p50']:.1f} ms, p99 "
        f"{summary['busy_p99']:.1f} ms, max {summary['busy_max']:.1f} ms"
    )
    print(
        f"daemon RSS: {summary['rss_before']:.1f} MB before, {summary['rss_after']:.1f} MB after "
        f"({growth:+.1%})"
    )
    return 0 if passed(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
