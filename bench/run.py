"""The benchmark table: parallelai against a bare baseline, one row per performance target.

Every measurement runs in a child process of its own (`--worker NAME`), so imports, event loops
and peak RSS never leak from one measurement into the next; the parent reads each child's peak
RSS from `wait4` and prints one table. Each comparison runs its baseline in the same invocation,
alternating which side goes first, because the machine is shared and timings are noisy.

    .venv/bin/python -m bench.run              # the full table (about 45 s a round)
    .venv/bin/python -m bench.run --quick      # a smaller smoke version (about 10 s)
    .venv/bin/python -m bench.run --only a,d --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The tiny CLI for case (d): a two-process pipeline per input, identical for parallelai and xargs.
TINY_CLI = ["sh", "-c", 'printf %s "$1" | md5sum', "_"]

Params = dict[str, Any]
Measurement = dict[str, float]


# -- workers: each runs in its own child process and prints one JSON object ---------------------


def _parallelai_run(
    spec_kwargs: Params, n: int, more: Callable[[Path, str], Measurement] | None = None
) -> Measurement:
    """Run `n` tasks through a fresh service on a store in a temp file; time `service.run`; `more`
    reads what else the case measures from the store."""
    import anyio

    from parallelai.models import RunSpec, TaskState
    from parallelai.orchestration.service import OrchestrationService

    spec = RunSpec.model_validate(spec_kwargs)  # building the input is the caller's cost, not timed

    async def main(store_path: Path) -> tuple[float, float, str]:
        async with OrchestrationService.open(store_path) as service:
            wall_start = time.time()
            started = time.perf_counter()
            summary = await service.run(spec)
            wall = time.perf_counter() - started
        succeeded = summary.counts.get(TaskState.SUCCEEDED, 0)
        if succeeded != n:
            raise SystemExit(f"only {succeeded} of {n} tasks succeeded: {summary.counts} {summary.note}")
        return wall, wall_start, summary.id

    with tempfile.TemporaryDirectory(prefix="parallelai-bench-") as tmp:
        store_path = Path(tmp) / "bench.db"
        wall, wall_start, run_id = anyio.run(main, store_path)
        extra = more(store_path, run_id) if more is not None else {}
        return {"wall": wall, **_phases(store_path, run_id, wall_start, wall), **extra}


def _phases(store_path: Path, run_id: str, wall_start: float, wall: float) -> Measurement:
    """Where the makespan went, from the run's own lifecycle events (seconds)."""
    db = sqlite3.connect(store_path)
    try:
        rows = db.execute(
            "SELECT type, body FROM events WHERE run_id = ? AND type IN ('run.created', 'run.started', "
            "'run.finished')",
            (run_id,),
        ).fetchall()
    finally:
        db.close()
    at = {kind: float(json.loads(body)["at"]) for kind, body in rows}
    created, started, finished = at["run.created"], at["run.started"], at["run.finished"]
    return {
        "submit": created - wall_start,  # plan, validate, persist every task durably
        "to_start": started - created,
        "execute": finished - started,
        "wind_down": wall_start + wall - finished,  # final flush and the summary query
    }


def worker_parallelai_echo(params: Params) -> Measurement:
    n, parallel, latency = int(params["n"]), int(params["parallel"]), float(params["latency"])
    spec = {
        "default_engine": "echo",
        "engine_settings": {"echo": {"latency": latency}},
        "limits": {"max_parallel": parallel},
        "use_cache": False,
        "tasks": [{"id": f"t{i}", "prompt": f"task {i}"} for i in range(n)],
    }
    return _parallelai_run(spec, n)


def worker_refusing_provider(params: Params) -> Measurement:
    """Echo tasks against a simulated provider that refuses above `cap` attempts at once."""
    n, strategy = int(params["n"]), str(params["strategy"])
    spec = {
        "strategy": strategy,
        "default_engine": "echo",
        "engine_settings": {
            "echo": {
                "latency": float(params["latency"]),
                "max_concurrent": int(params["cap"]),
                "retry_after": float(params["retry_after"]),
            }
        },
        # The same patient retries on both sides, so the fixed pool finishes too.
        "limits": {"max_parallel": int(params["parallel"]), "backoff_base_s": 0.05, "backoff_cap_s": 1.0},
        "use_cache": False,
        "tasks": [{"id": f"t{i}", "prompt": f"task {i}", "options": {"retries": 100}} for i in range(n)],
    }
    return _parallelai_run(spec, n, _concurrency)


def _concurrency(store_path: Path, run_id: str) -> Measurement:
    """From the run's events: attempts, refusals, and the tasks running on average over the second
    half of the run (time-weighted: what the provider saw once the start-up was over)."""
    db = sqlite3.connect(store_path)
    try:
        rows = db.execute(
            "SELECT type, body FROM events WHERE run_id = ? AND type IN ('task.state', 'task.retrying', "
            "'concurrency.changed', 'run.started', 'run.finished') ORDER BY seq",
            (run_id,),
        ).fetchall()
    finally:
        db.close()
    events = [(kind, json.loads(body)) for kind, body in rows]
    start = next(body["at"] for kind, body in events if kind == "run.started")
    end = next(body["at"] for kind, body in events if kind == "run.finished")
    half = start + (end - start) / 2
    running: set[str] = set()
    attempts = refused = 0
    area, last_at, last_limit = 0.0, half, 0
    for kind, body in events:
        at = body["at"]
        if at > half:
            area += len(running) * (at - last_at)
            last_at = at
        if kind == "task.state":
            if body["state"] == "running":
                attempts += 1
                running.add(body["task_id"])
            else:
                running.discard(body["task_id"])
        elif kind == "task.retrying" and body["error_kind"] == "rate_limited":
            refused += 1
        elif kind == "concurrency.changed":
            last_limit = body["limit"]
    return {
        "attempts": attempts,
        "refused": refused,
        "mean_running": area / max(end - half, 1e-9),
        "final_limit": last_limit,
    }


def worker_asyncio_echo(params: Params) -> Measurement:
    """The floor: a bare asyncio gather under a semaphore doing the same sleeps, nothing stored."""
    n, parallel, latency = int(params["n"]), int(params["parallel"]), float(params["latency"])

    async def main() -> float:
        gate = asyncio.Semaphore(parallel)

        async def one(i: int) -> str:
            async with gate:
                await asyncio.sleep(latency)  # noqa: TID251 - the baseline is deliberately bare asyncio
                return f"echo: task {i}"

        started = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))  # noqa: TID251 - as above
        wall = time.perf_counter() - started
        assert len(results) == n
        return wall

    return {"wall": asyncio.run(main())}


def worker_parallelai_command(params: Params) -> Measurement:
    n, parallel = int(params["n"]), int(params["parallel"])
    spec = {
        "default_engine": "command",
        "engine_settings": {"command": {"argv": TINY_CLI}},  # the prompt is appended: it becomes $1
        "limits": {"max_parallel": parallel},
        "use_cache": False,
        "tasks": [{"id": f"t{i}", "prompt": f"input-{i}"} for i in range(n)],
    }
    return _parallelai_run(spec, n)


def worker_xargs(params: Params) -> Measurement:
    n, parallel = int(params["n"]), int(params["parallel"])
    inputs = b"".join(f"input-{i}".encode() + b"\0" for i in range(n))
    argv = ["xargs", "-0", "-n", "1", "-P", str(parallel), *TINY_CLI]
    started = time.perf_counter()
    done = subprocess.run(argv, input=inputs, stdout=subprocess.PIPE, check=True)
    wall = time.perf_counter() - started
    lines = done.stdout.count(b"\n")
    if lines != n:
        raise SystemExit(f"xargs printed {lines} lines for {n} inputs")
    return {"wall": wall}


def worker_sse_latency(params: Params) -> Measurement:
    """Engine event to SSE client through a real daemon (see bench/sse_latency.py for the set-up)."""
    import anyio

    from bench.sse_latency import ENGINE_EVENT, measure, percentile

    latencies = anyio.run(
        measure, int(params["n"]), int(params["parallel"]), params["min_latency"], params["max_latency"]
    )
    engine = latencies[ENGINE_EVENT]
    return {"p50": percentile(engine, 0.5), "p99": percentile(engine, 0.99), "count": len(engine)}


def worker_mcp_start(params: Params) -> Measurement:
    """`parallelai mcp` spawned until `initialize` is answered (see bench/mcp_start.py)."""
    from bench import mcp_start

    samples = int(params["samples"])
    if params["daemon"] == "running":
        return mcp_start.measure_warm(samples)
    return mcp_start.measure_cold(samples)


def worker_import_mcp(params: Params) -> Measurement:
    from bench import mcp_start

    return mcp_start.measure_import_mcp(int(params["samples"]))


def worker_isolation(params: Params) -> Measurement:
    """Per-task worktree + capture + merge, or bare git doing the same (see bench/isolation.py)."""
    from bench import isolation

    files, tasks = int(params["files"]), int(params["tasks"])
    side = isolation.measure_ours if params["side"] == "parallelai" else isolation.measure_bare
    return side(files, tasks)


def worker_merges(params: Params) -> Measurement:
    from bench import isolation

    files, merges = int(params["files"]), int(params["merges"])
    side = isolation.measure_merges if params["side"] == "parallelai" else isolation.measure_plumbing
    return side(files, merges)


def worker_rate_gate(params: Params) -> Measurement:
    """Two runs against the simulated rate-limited provider, gated or not (see bench/rate_gate.py)."""
    from bench import rate_gate

    return rate_gate.measure(params)


def worker_api_load(params: Params) -> Measurement:
    """`GET /v1/runs` at rest and under a run with many SSE clients; daemon RSS (bench/api_load.py)."""
    import anyio

    from bench import api_load

    found = anyio.run(
        api_load.measure,
        int(params["n"]),
        int(params["clients"]),
        int(params["parallel"]),
        float(params["latency"]),
        3,
        1.0,
    )
    return api_load.summarise(found)


def worker_dashboard_paint(params: Params) -> Measurement:
    """The run page in headless Chromium: first correct paint and frames per second, for a large run
    and the baseline's smaller one on the same daemon (bench/dashboard_paint.py)."""
    import anyio

    from bench import dashboard_paint

    small, large = anyio.run(
        dashboard_paint.measure,
        [int(params["baseline"]), int(params["n"])],
        int(params["parallel"]),
        (float(params["latency"][0]), float(params["latency"][1])),
        float(params["live_s"]),
        float(params["scroll_s"]),
        int(params["scroll_px"]),
    )
    return {**{f"large_{k}": v for k, v in large.items()}, **{f"small_{k}": v for k, v in small.items()}}


WORKERS: dict[str, Callable[[Params], Measurement]] = {
    "parallelai-echo": worker_parallelai_echo,
    "asyncio-echo": worker_asyncio_echo,
    "refusing-provider": worker_refusing_provider,
    "parallelai-command": worker_parallelai_command,
    "xargs": worker_xargs,
    "sse-latency": worker_sse_latency,
    "mcp-start": worker_mcp_start,
    "import-mcp": worker_import_mcp,
    "isolation": worker_isolation,
    "merges": worker_merges,
    "rate-gate": worker_rate_gate,
    "api-load": worker_api_load,
    "dashboard-paint": worker_dashboard_paint,
}


# -- the parent: spawn, measure, compare ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    values: Measurement
    peak_rss_mb: float
    cpu_s: float  # user + system time of the child and the children it waited for


# Where the children import `parallelai` from: this checkout, or a prototype copy (`--against`).
PACKAGE_ROOT = [REPO]


def spawn(worker: str, params: Params, timeout_s: float = 600.0) -> Sample:
    """Run one worker in a child process; its peak RSS comes from `wait4`, not from itself."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        worker,
        "--params",
        json.dumps(params),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT[0]), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # In the package's directory: a daemon the worker starts (`python -m parallelai.server.daemon`)
        # puts its working directory first on sys.path, so from REPO it would import this checkout
        # even with --against. `bench` itself still comes from REPO (the editable install).
        child = subprocess.Popen(command, stdout=out, stderr=err, cwd=PACKAGE_ROOT[0], env=env)
        watchdog = threading.Timer(timeout_s, child.kill)
        watchdog.start()
        try:
            # wait4 instead of Popen.wait: it reaps the child and hands back its resource usage.
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            watchdog.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"worker {worker} {params} exited with {child.returncode}:\n{stderr[-4000:]}")
    values: Measurement = json.loads(stdout.strip().splitlines()[-1])
    cpu_s = usage.ru_utime + usage.ru_stime
    return Sample(values, usage.ru_maxrss / 1024, cpu_s)  # ru_maxrss is in KiB on Linux


@dataclass(slots=True)
class Best:
    """Across repeats: the fastest sample (least disturbed by the neighbours) and the highest RSS."""

    sample: Sample | None = None
    peak_rss_mb: float = 0.0

    def add(self, sample: Sample) -> None:
        if self.sample is None or sample.values["wall"] < self.sample.values["wall"]:
            self.sample = sample
        self.peak_rss_mb = max(self.peak_rss_mb, sample.peak_rss_mb)

    @property
    def values(self) -> Measurement:
        assert self.sample is not None
        return self.sample.values

    @property
    def wall(self) -> float:
        return self.values["wall"]

    @property
    def cpu_s(self) -> float:
        assert self.sample is not None
        return self.sample.cpu_s


def compare(ours: tuple[str, Params], theirs: tuple[str, Params], repeat: int) -> tuple[Best, Best]:
    mine, baseline = Best(), Best()
    for round_ in range(repeat):
        order = [(ours, mine), (theirs, baseline)]
        for (worker, params), best in order if round_ % 2 == 0 else reversed(order):
            _progress(f"  {worker} {params} (round {round_ + 1}/{repeat})")
            best.add(spawn(worker, params))
    return mine, baseline


Row = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class Sizes:
    a: Params
    b: Params
    c: Params
    d: Params
    e: Params
    f: Params
    g: Params
    h: Params
    i: Params
    j: Params
    l: Params  # noqa: E741 (the case's letter)


FULL = Sizes(
    a={"n": 1000, "parallel": 100, "latency": 0.5},
    b={"n": 10_000, "parallel": 1000, "latency": 1.0},
    c={"n": 10_000, "parallel": 100, "latency": 0.0},
    d={"n": 1000, "parallel": 50},
    e={"n": 2000, "parallel": 1000, "min_latency": 2.0, "max_latency": 8.0},
    f={"samples": 5},
    g={"n": 2000, "cap": 13, "latency": 0.05, "retry_after": 0.05, "parallel": 100},
    h={"files": 10_000, "tasks": 3, "merges": 50},
    i={"n": 2000, "parallel": 200, "rpm": 3000, "tpm": 1_000_000, "burst_s": 1.0, "latency": [0.2, 0.6]},
    j={"n": 1000, "clients": 50, "parallel": 100, "latency": 0.5},
    l={
        "n": 10_000,
        "baseline": 1000,
        "parallel": 100,
        "latency": [2.0, 4.0],
        "live_s": 5.0,
        "scroll_s": 5.0,
        "scroll_px": 280,
    },
)
QUICK = Sizes(
    a={"n": 200, "parallel": 100, "latency": 0.5},
    b={"n": 2000, "parallel": 1000, "latency": 1.0},
    c={"n": 2000, "parallel": 100, "latency": 0.0},
    d={"n": 200, "parallel": 50},
    e={"n": 400, "parallel": 200, "min_latency": 1.0, "max_latency": 3.0},
    f={"samples": 3},
    g={"n": 500, "cap": 13, "latency": 0.05, "retry_after": 0.05, "parallel": 100},
    h={"files": 2000, "tasks": 2, "merges": 20},
    i={"n": 500, "parallel": 200, "rpm": 3000, "tpm": 1_000_000, "burst_s": 1.0, "latency": [0.2, 0.6]},
    j={"n": 300, "clients": 20, "parallel": 100, "latency": 0.5},
    l={
        "n": 2000,
        "baseline": 200,
        "parallel": 100,
        "latency": [2.0, 4.0],
        "live_s": 3.0,
        "scroll_s": 3.0,
        "scroll_px": 280,
    },
)


def _ideal(params: Params) -> float:
    n, parallel, latency = int(params["n"]), int(params["parallel"]), float(params["latency"])
    return math.ceil(n / parallel) * latency


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _phase_note(case: str, best: Best, baseline: Best) -> str:
    """Where parallelai's makespan went, and CPU time (steadier than wall time on a busy machine)."""
    v = best.values
    return (
        f"({case}) parallelai best run: {v['wall']:.3f} s = submit {v['submit']:.3f} + to start "
        f"{v['to_start']:.3f} + execute {v['execute']:.3f} + wind down {v['wind_down']:.3f}; "
        f"CPU {best.cpu_s:.2f} s (baseline {baseline.cpu_s:.2f} s)"
    )


def case_a(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    p = sizes.a
    mine, base = compare(("parallelai-echo", p), ("asyncio-echo", p), repeat)
    ideal = _ideal(p)
    ours, theirs = ideal / mine.wall, ideal / base.wall
    notes.append(_phase_note("a", mine, base))
    label = f"(a) {p['n']:,} echo x {p['latency']:g} s, P={p['parallel']}: ideal/makespan"
    return [
        (
            label,
            f"{ours:.4f} ({mine.wall:.3f} s)",
            f"{theirs:.4f} ({base.wall:.3f} s, asyncio)",
            f"{ours:.4f} >= 0.99",
            _verdict(ours >= 0.99),
        )
    ]


def case_b(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    p = sizes.b
    mine, base = compare(("parallelai-echo", p), ("asyncio-echo", p), repeat)
    ideal = _ideal(p)
    ours, theirs = ideal / mine.wall, ideal / base.wall
    notes.append(_phase_note("b", mine, base))
    label = f"(b) {p['n']:,} echo x {p['latency']:g} s, P={p['parallel']:,}"
    return [
        (
            f"{label}: ideal/makespan",
            f"{ours:.4f} ({mine.wall:.3f} s)",
            f"{theirs:.4f} ({base.wall:.3f} s, asyncio)",
            f"{ours:.4f} >= 0.97",
            _verdict(ours >= 0.97),
        ),
        (
            f"{label}: peak RSS",
            f"{mine.peak_rss_mb:.0f} MB",
            f"{base.peak_rss_mb:.0f} MB (asyncio)",
            f"{mine.peak_rss_mb:.0f} <= 300",
            _verdict(mine.peak_rss_mb <= 300),
        ),
    ]


def case_c(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    p = sizes.c
    mine, base = compare(("parallelai-echo", p), ("asyncio-echo", p), repeat)
    ours, theirs = p["n"] / mine.wall, p["n"] / base.wall
    notes.append(_phase_note("c", mine, base))
    label = f"(c) {p['n']:,} zero-latency echo, P={p['parallel']}, store on: tasks/s"
    return [
        (
            label,
            f"{ours:,.0f} ({mine.wall:.3f} s)",
            f"{theirs:,.0f} ({base.wall:.3f} s, asyncio, no store)",
            f"{ours:,.0f} >= 3,000",
            _verdict(ours >= 3000),
        )
    ]


def case_d(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    p = sizes.d
    mine, base = compare(("parallelai-command", p), ("xargs", p), repeat)
    ratio = mine.wall / base.wall
    notes.append(_phase_note("d", mine, base))
    label = f"(d) {p['n']:,} tiny CLI runs (TINY_CLI), P={p['parallel']}: wall"
    notes.append(f"(d) TINY_CLI = {shlex.join(TINY_CLI)} with each input as $1, for both sides")
    return [
        (
            label,
            f"{mine.wall:.3f} s",
            f"{base.wall:.3f} s (xargs -P {p['parallel']})",
            f"{ratio:.3f} <= 1.10",
            _verdict(ratio <= 1.10),
        )
    ]


def case_e(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 5's target; no baseline: the figure is an absolute latency. The best p99 of the rounds."""
    p = sizes.e
    rounds = [spawn("sse-latency", p).values for _ in range(repeat)]
    best = min(rounds, key=lambda values: values["p99"])
    notes.append(
        f"(e) {p['n']:,} echo tasks, latencies {p['min_latency']:g}-{p['max_latency']:g} s, a real daemon "
        f"in a child process; {best['count']:.0f} task.output events measured; `python -m bench.sse_latency` "
        "breaks it down by event type"
    )
    return [
        (
            f"(e) engine event -> SSE client, {p['parallel']:,} tasks in flight: p99",
            f"{best['p99']:.1f} ms (p50 {best['p50']:.1f} ms)",
            "-",
            f"{best['p99']:.1f} <= 50 ms",
            _verdict(best["p99"] <= 50.0),
        )
    ]


def case_f(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 11's targets: how soon an assistant gets `initialize` answered, cold and warm."""
    p = sizes.f
    cold, base = compare(("mcp-start", {**p, "daemon": "none"}), ("import-mcp", p), repeat)
    warm = Best()
    for _ in range(repeat):
        warm.add(spawn("mcp-start", {**p, "daemon": "running"}))
    notes.append(
        f"(f) median of {p['samples']} spawns of the `parallelai` console script per round; cold = no daemon "
        f"(it starts one in the background; the first tool call was answered after "
        f"{cold.values['first_call']:.2f} s), warm = the state dir's daemon already up"
    )
    baseline = f"{base.wall:.3f} s (python -c 'import mcp')"
    return [
        (
            "(f) cold `parallelai mcp` -> initialize answered",
            f"{cold.wall:.3f} s",
            baseline,
            f"{cold.wall:.3f} <= 0.30 s",
            _verdict(cold.wall <= 0.30),
        ),
        (
            "(f) warm `parallelai mcp` -> initialize answered",
            f"{warm.wall:.3f} s",
            baseline,
            f"{warm.wall:.3f} <= 0.15 s",
            _verdict(warm.wall <= 0.15),
        ),
    ]


def case_g(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 14's target: the adaptive strategy finds a provider's unknown concurrency limit."""
    p = sizes.g
    cap = int(p["cap"])
    mine, base = compare(
        ("refusing-provider", {**p, "strategy": "adaptive"}),
        ("refusing-provider", {**p, "strategy": "parallel"}),
        repeat,
    )
    ours, theirs = mine.values, base.values

    def refused(values: Measurement) -> float:
        return values["refused"] / values["attempts"]

    off = abs(ours["mean_running"] - cap) / cap
    ideal = math.ceil(p["n"] / cap) * p["latency"]
    notes.append(
        f"(g) {p['n']:,} echo tasks x {p['latency']:g} s; the provider refuses (rate_limited, retry-after "
        f"{p['retry_after']:g} s) an attempt beyond {cap} at once; both sides ceiling {p['parallel']}, "
        f"100 retries, backoff 0.05-1 s. Makespan: adaptive {mine.wall:.2f} s, fixed pool {base.wall:.2f} s "
        f"(ideal at {cap} at once: {ideal:.2f} s); adaptive limit at the end: {ours['final_limit']:.0f}; "
        f"attempts {ours['attempts']:.0f} vs {theirs['attempts']:.0f}"
    )
    label = f"(g) provider refusing above {cap}, adaptive vs fixed P={p['parallel']}"
    return [
        (
            f"{label}: mean running (2nd half)",
            f"{ours['mean_running']:.2f} ({off:.1%} off {cap})",
            f"{theirs['mean_running']:.2f} (fixed pool)",
            f"{off:.1%} <= 10%",
            _verdict(off <= 0.10),
        ),
        (
            f"{label}: attempts refused",
            f"{refused(ours):.2%} ({ours['refused']:.0f})",
            f"{refused(theirs):.2%} ({theirs['refused']:.0f}, fixed pool)",
            f"{refused(ours):.2%} <= 1%",
            _verdict(refused(ours) <= 0.01),
        ),
    ]


def case_h(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 15's targets: what isolating a task costs next to bare git, and the merge queue's pace."""
    p = sizes.h
    files, tasks, merges = p["files"], p["tasks"], p["merges"]
    mine, base = compare(
        ("isolation", {"files": files, "tasks": tasks, "side": "parallelai"}),
        ("isolation", {"files": files, "tasks": tasks, "side": "git"}),
        repeat,
    )
    queue, plumbing = compare(
        ("merges", {"files": files, "merges": merges, "side": "parallelai"}),
        ("merges", {"files": files, "merges": merges, "side": "git"}),
        repeat,
    )
    ratio = mine.values["per_task"] / base.values["per_task"]
    notes.append(
        f"(h) a generated repository of {files:,} files; {tasks} tasks one after the other, each editing a "
        "distinct file: TaskWorkspaces.create + capture + MergeQueue.merge vs git worktree add + git diff "
        f"--binary + git apply --index (removal not timed). {merges} patches on distinct files merged "
        "concurrently through one MergeQueue vs the same plumbing (apply --cached --3way, write-tree, "
        "commit-tree, update-ref) in a synchronous loop; `python -m bench.isolation` runs them alone"
    )
    label = f"(h) isolation on {files:,} files"
    return [
        (
            f"{label}: per task (worktree + diff + merge)",
            f"{mine.values['per_task']:.3f} s",
            f"{base.values['per_task']:.3f} s (bare git)",
            f"{ratio:.2f} <= 1.30",
            _verdict(ratio <= 1.30),
        ),
        (
            f"{label}: {merges} non-conflicting merges",
            f"{queue.wall:.3f} s",
            f"{plumbing.wall:.3f} s (same plumbing, sync loop)",
            f"{queue.wall:.3f} <= 2 s",
            _verdict(queue.wall <= 2.0),
        ),
    ]


def case_i(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 16's targets: two runs pace themselves to one provider's limit through one rate gate."""
    p = sizes.i
    mine, base = compare(("rate-gate", {**p, "gate": True}), ("rate-gate", {**p, "gate": False}), repeat)
    ours, theirs = mine.values, base.values
    notes.append(
        f"(i) {p['n']:,} openai tasks in {2} concurrent runs of --parallel {p['parallel']} against a simulated "
        f"provider (bench/provider_sim.py: {p['rpm']:,.0f} RPM and {p['tpm']:,.0f} TPM as token buckets holding "
        f"{p['burst_s']:g} s of their rate, x-ratelimit-* headers, 429 + retry-after; answers in "
        f"{p['latency'][0]:g}-{p['latency'][1]:g} s); default retries (2) and backoff on both sides. N/R bound "
        f"{ours['bound']:.1f} s; makespan gated {mine.wall:.2f} s, fixed pool {base.wall:.2f} s; requests "
        f"accepted + refused: gated {ours['accepted']:.0f} + {ours['refused']:.0f}, fixed pool "
        f"{theirs['accepted']:.0f} + {theirs['refused']:.0f}"
    )
    label = f"(i) {p['rpm']:,.0f} RPM provider, 2 runs x P={p['parallel']}, gate vs fixed pool"
    return [
        (
            f"{label}: tasks done per s / rate (N/R bound)",
            f"{ours['fraction']:.3f}",
            f"{theirs['fraction']:.3f} (fixed pool)",
            f"{ours['fraction']:.3f} >= 0.95",
            _verdict(ours["fraction"] >= 0.95),
        ),
        (
            f"{label}: failed tasks",
            f"{ours['failed']:.0f}",
            f"{theirs['failed']:.0f} (fixed pool)",
            f"{ours['failed']:.0f} = 0",
            _verdict(ours["failed"] == 0),
        ),
        (
            f"{label}: requests refused",
            f"{ours['refused_share']:.2%} ({ours['refused']:.0f})",
            f"{theirs['refused_share']:.2%} ({theirs['refused']:.0f}, fixed pool)",
            f"{ours['refused_share']:.2%} <= 1%",
            _verdict(ours["refused_share"] <= 0.01),
        ),
    ]


def case_j(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 17's targets: the run list stays fast under load, and the daemon's memory comes back.
    The idle figures come from the same daemon, just before the run; the best p99 of the rounds."""
    p = sizes.j
    rounds = [spawn("api-load", p).values for _ in range(repeat)]
    best = min(rounds, key=lambda values: values["busy_p99"])
    growth = max(values["rss_after"] / values["rss_before"] - 1 for values in rounds)
    worst = max(rounds, key=lambda values: values["rss_after"] / values["rss_before"])
    notes.append(
        f"(j) a real daemon in a child process; {p['n']:,} echo tasks x {p['latency']:g} s at --parallel "
        f"{p['parallel']} ({best['run_s']:.1f} s), {p['clients']} SSE clients on /v1/events in a process of "
        f"their own, `GET /v1/runs?limit=50` back to back ({best['requests']:.0f} requests, max "
        f"{best['busy_max']:.1f} ms); RSS from /proc 1 s after the run and the clients ended; "
        "`python -m bench.api_load` runs it alone"
    )
    label = f"(j) GET /v1/runs?limit=50 during {p['n']:,} tasks + {p['clients']} SSE clients"
    return [
        (
            f"{label}: p99",
            f"{best['busy_p99']:.1f} ms (p50 {best['busy_p50']:.1f} ms)",
            f"{best['idle_p99']:.1f} ms (p50 {best['idle_p50']:.1f} ms, idle)",
            f"{best['busy_p99']:.1f} <= 50 ms",
            _verdict(best["busy_p99"] <= 50.0),
        ),
        (
            f"(j) daemon RSS after the run / before ({p['n']:,} tasks)",
            f"{worst['rss_after']:.1f} MB ({growth:+.1%})",
            f"{worst['rss_before']:.1f} MB (before)",
            f"{growth:+.1%} <= +10%",
            _verdict(growth <= 0.10),
        ),
    ]


def case_l(sizes: Sizes, repeat: int, notes: list[str]) -> list[Row]:
    """Issue 18's target: the run page of a 10,000-task run paints its true numbers at once and stays
    smooth while it updates and scrolls; the baseline is a smaller run's page, same daemon and browser.
    The best round of each figure."""
    p = sizes.l
    rounds = [spawn("dashboard-paint", p).values for _ in range(repeat)]
    paint = min(rounds, key=lambda values: values["large_first_paint_ms"])
    live = max(rounds, key=lambda values: values["large_live_fps"])
    scroll = max(rounds, key=lambda values: values["large_scroll_fps"])
    wrong = max(values["large_wrong_paints"] + values["small_wrong_paints"] for values in rounds)
    notes.append(
        f"(l) a real daemon in a child process, {p['n']:,} (baseline {p['baseline']:,}) echo tasks, "
        f"{p['parallel']} in flight, {p['latency'][0]:g}-{p['latency'][1]:g} s each; the run page opened in "
        "a new tab of headless Chromium once the first tasks finished; first correct paint = navigation "
        "start to the first stat-card change showing done/running/failed the run had since then (from "
        f"its task.state events); table shown at {paint['large_table_ms'] / 1000:.2f} s (/tasks read by "
        f"{paint.get('large_tasks_fetch_end_ms', 0) / 1000:.2f} s); fps from requestAnimationFrame over "
        f"{p['live_s']:g} s live and {p['scroll_s']:g} s scrolling the table {p['scroll_px']} px a frame; "
        "`python -m bench.dashboard_paint` runs it alone"
    )
    label = f"(l) run page, {p['n']:,} tasks (baseline {p['baseline']:,})"
    return [
        (
            f"{label}: first correct paint",
            f"{paint['large_first_paint_ms'] / 1000:.2f} s ({wrong:.0f} wrong)",
            f"{paint['small_first_paint_ms'] / 1000:.2f} s",
            f"{paint['large_first_paint_ms'] / 1000:.2f} <= 2 s, 0 wrong",
            _verdict(paint["large_first_paint_ms"] <= 2000 and wrong == 0),
        ),
        (
            f"{label}: fps, live updates (worst frame; main thread busy)",
            f"{live['large_live_fps']:.1f} ({live['large_live_worst_ms']:.0f} ms; {live['large_live_busy']:.0%} busy)",
            f"{live['small_live_fps']:.1f} ({live['small_live_worst_ms']:.0f} ms; {live['small_live_busy']:.0%} busy)",
            f"{live['large_live_fps']:.1f} >= 50",
            _verdict(live["large_live_fps"] >= 50),
        ),
        (
            f"{label}: fps, scrolling the table (worst frame; busy)",
            f"{scroll['large_scroll_fps']:.1f} ({scroll['large_scroll_worst_ms']:.0f} ms; {scroll['large_scroll_busy']:.0%} busy)",
            f"{scroll['small_scroll_fps']:.1f} ({scroll['small_scroll_worst_ms']:.0f} ms; {scroll['small_scroll_busy']:.0%} busy)",
            f"{scroll['large_scroll_fps']:.1f} >= 50",
            _verdict(scroll["large_scroll_fps"] >= 50),
        ),
    ]


CASES: dict[str, Callable[[Sizes, int, list[str]], list[Row]]] = {
    "a": case_a,
    "b": case_b,
    "c": case_c,
    "d": case_d,
    "e": case_e,
    "f": case_f,
    "g": case_g,
    "h": case_h,
    "i": case_i,
    "j": case_j,
    "l": case_l,
}


def render(rows: list[Row]) -> str:
    header: Row = ("case", "parallelai", "baseline", "ratio / target", "pass?")
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: Row) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.run", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes: a smoke test of the bench itself"
    )
    parser.add_argument(
        "--only", default=",".join(CASES), help="cases to run, comma-separated (default: all)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per comparison; the fastest round is kept"
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="measure the parallelai package found in DIR instead of this checkout (for prototypes)",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(WORKERS[args.worker](json.loads(args.params))))
        return 0

    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in CASES]
    if unknown or not chosen or args.repeat < 1:
        parser.error(
            f"--only takes some of {','.join(CASES)} and --repeat a positive number (got {args.only!r})"
        )
    if args.against is not None:
        if not (args.against / "parallelai" / "__init__.py").is_file():
            parser.error(f"--against {args.against}: no parallelai package there")
        PACKAGE_ROOT[0] = args.against.resolve()
    sizes = QUICK if args.quick else FULL
    rows: list[Row] = []
    notes: list[str] = []
    for name in chosen:
        _progress(f"case {name}")
        rows.extend(CASES[name](sizes, args.repeat, notes))

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"parallelai bench{' (quick)' if args.quick else ''} - {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f" - Python {platform.python_version()}, {os.cpu_count()} CPUs, load {load}, best of {args.repeat}"
    )
    if args.against is not None:
        print(f"measuring the package in {PACKAGE_ROOT[0]}, not this checkout")
    print(render(rows))
    for note in notes:
        print(note)
    passed = sum(row[4] == "PASS" for row in rows)
    print(f"{passed} of {len(rows)} targets met")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
