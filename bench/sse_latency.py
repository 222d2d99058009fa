"""SSE latency: from an engine event to its arrival at an SSE client, with 1,000 tasks in flight.

A real daemon runs as a child process on a loopback port (a fresh state dir and store). One run
keeps `--parallel` tasks in flight the whole time: `--tasks` echo tasks whose latencies are spread
evenly over [min, max] seconds, so completions — each one an output, usage and state event —
arrive steadily rather than in one wave. This process follows the run's event stream and, for
every event, takes its arrival time minus the event's `at` (stamped in the daemon when the engine
reported it; same machine, same clock). The latency therefore covers publishing, the durable
group commit that precedes sending, SSE framing, the socket and the client's parsing.

    .venv/bin/python -m bench.sse_latency              # 2,000 tasks, 1,000 in flight (~12 s)
    .venv/bin/python -m bench.sse_latency --quick      # 400 tasks, 200 in flight (~5 s)

The exit code is 0 when the p99 of engine events (`task.output`) meets the target (50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import httpx

TARGET_P99_MS = 50.0
ENGINE_EVENT = "task.output"  # what the echo engine emits; state and usage events ride along


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _work(tasks: int, min_latency: float, max_latency: float) -> dict[str, Any]:
    step = (max_latency - min_latency) / max(tasks - 1, 1)
    return {
        "strategy": "parallel",
        "tasks": [
            {
                "prompt": f"prompt {index}",
                # Interleaved latencies: neighbours finish far apart, so completions stay spread out.
                "options": {"engine_options": {"latency": min_latency + step * ((index * 7919) % tasks)}},
            }
            for index in range(tasks)
        ],
    }


async def measure(
    tasks: int, parallel: int, min_latency: float, max_latency: float
) -> dict[str, list[float]]:
    """Latencies in ms by event type; events before the first task could finish count as `start-up`."""
    from parallelai.client.launcher import start_detached, stop_daemon
    from parallelai.client.sse import sse_messages

    latencies: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="parallelai-sse-bench-") as tmp:
        os.environ["PARALLELAI_STATE_DIR"] = tmp
        info = await start_detached("127.0.0.1", 0, Path(tmp) / "bench.db")
        try:
            headers = {"Authorization": f"Bearer {info.token}"}
            # Follow every event from now on first, so none reaches us as a replay from the store.
            async with (
                httpx.AsyncClient(base_url=info.url, headers=headers, timeout=None) as http,
                http.stream("GET", "/v1/events") as response,
            ):
                response.raise_for_status()
                body = {
                    "name": "sse-latency",
                    "work": _work(tasks, min_latency, max_latency),
                    "limits": {"max_parallel": parallel},
                    "use_cache": False,
                }
                posted = time.time()
                created = await http.post("/v1/runs", json=body)
                created.raise_for_status()
                run_id = created.json()["id"]
                # Until the first task can finish, the run is starting: every task becomes ready
                # and starts in one burst. That is reported apart from the steady state.
                steady_from = posted + min_latency
                async for message in sse_messages(response):
                    arrived = time.time()
                    event = json.loads(message.data)
                    if event["run_id"] != run_id:
                        continue
                    kind = event["type"] if event["at"] >= steady_from else "start-up (all types)"
                    latencies[kind].append((arrived - event["at"]) * 1000)
                    if event["type"] == "run.finished":
                        break
        finally:
            await stop_daemon()
    return latencies


def render(latencies: dict[str, list[float]]) -> str:
    header = ("events", "count", "p50 ms", "p99 ms", "max ms")
    rows = [header]
    for kind in sorted(latencies, key=lambda name: (name != ENGINE_EVENT, name.startswith("start"), name)):
        values = latencies[kind]
        if len(values) < 2:
            continue
        rows.append(
            (
                kind,
                f"{len(values):,}",
                f"{statistics.median(values):.1f}",
                f"{percentile(values, 0.99):.1f}",
                f"{max(values):.1f}",
            )
        )
    everything = [
        value for kind, values in latencies.items() if not kind.startswith("start-up") for value in values
    ]
    rows.append(
        (
            "steady state, all types",
            f"{len(everything):,}",
            f"{statistics.median(everything):.1f}",
            f"{percentile(everything, 0.99):.1f}",
            f"{max(everything):.1f}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)),
        ]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=1000, help="tasks in flight")
    parser.add_argument("--min-latency", type=float, default=2.0)
    parser.add_argument("--max-latency", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true", help="400 tasks, 200 in flight")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.parallel, args.min_latency, args.max_latency = 400, 200, 1.0, 3.0
    print(
        f"{args.tasks:,} echo tasks, {args.parallel:,} in flight, latencies {args.min_latency:g}-"
        f"{args.max_latency:g} s; daemon in a child process, this process as the SSE client",
        file=sys.stderr,
        flush=True,
    )
    latencies = anyio.run(measure, args.tasks, args.parallel, args.min_latency, args.max_latency)
    print(render(latencies))
    p99 = percentile(latencies[ENGINE_EVENT], 0.99)
    verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL"
    print(
        f"engine event ({ENGINE_EVENT}) to SSE client p99 {p99:.1f} ms; target <= {TARGET_P99_MS:g} ms: {verdict}"
    )
    return 0 if p99 <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
