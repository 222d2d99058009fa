"""Case (k): the ray backend's overhead — 1,000 `echo` tasks x 0.5 s at P=100 on runner actors of a
local Ray cluster, next to the same run on the local backend and a bare Ray async-actor baseline,
all in the same run of this script.

- *ray backend*: `OrchestrationService.run` of the spec with `backend: ray` on the cluster this
  script starts (`ray.cluster_utils.Cluster`: NODES nodes of one CPU each, no dashboard); the
  coordinator is this process, as `parallelai run --backend ray` would be.
- *local backend*: the same spec without a backend, same process, same store settings.
- *bare Ray actors*: one async actor per node (as the backend's runners), and N calls of
  `asyncio.sleep(L)` spread over them round-robin, at most P awaited at once (an asyncio
  semaphore in the driver): what the cluster itself costs, with no store, events or retries.

Each side runs once untimed first (the actors' processes start), then ROUNDS timed rounds in
alternating order; the best of each side is kept. The ratio is ideal / makespan, ideal = ⌈N/P⌉·L.

    .venv/bin/python -m bench.ray_backend               # N=1000, P=100, L=0.5 s, 3 nodes, best of 2
    .venv/bin/python -m bench.ray_backend --quick       # N=200, P=50: a smoke test (~30 s)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 0.94


class Sleeper:
    """The bare baseline's actor: it only sleeps."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # noqa: TID251 - the baseline is deliberately bare asyncio


def _spec(n: int, parallel: int, latency: float, backend: Any) -> Any:
    from parallelai.models import RunLimits, RunSpec, Task

    return RunSpec(
        default_engine="echo",
        engine_settings={"echo": {"latency": latency}},
        limits=RunLimits(max_parallel=parallel),
        use_cache=False,
        backend=backend,
        tasks=[Task(id=f"t{i:05}", prompt=f"task {i}") for i in range(n)],
    )


def measure_parallelai(n: int, parallel: int, latency: float, backend: Any) -> dict[str, float]:
    import anyio

    from parallelai.models import TaskState
    from parallelai.orchestration.service import OrchestrationService

    spec = _spec(n, parallel, latency, backend)

    async def main(store_path: Path) -> float:
        async with OrchestrationService.open(store_path) as service:
            started = time.perf_counter()
            summary = await service.run(spec)
            wall = time.perf_counter() - started
        if summary.counts.get(TaskState.SUCCEEDED, 0) != n:
            raise SystemExit(f"not every task succeeded: {summary.counts} {summary.note}")
        return wall

    with tempfile.TemporaryDirectory(prefix="parallelai-bench-ray-") as tmp:
        cpu = _cpu()
        wall = anyio.run(main, Path(tmp) / "bench.db")
        return {"wall": wall, "cpu": _cpu() - cpu}


def measure_bare(actors: list[Any], n: int, parallel: int, latency: float) -> dict[str, float]:
    async def main() -> float:
        gate = asyncio.Semaphore(parallel)

        async def one(i: int) -> None:
            async with gate:
                await actors[i % len(actors)].sleep.remote(latency)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))  # noqa: TID251 - bare asyncio, as above
        return time.perf_counter() - started

    cpu = _cpu()
    wall = asyncio.run(main())
    return {"wall": wall, "cpu": _cpu() - cpu}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ray_backend")
    parser.add_argument("--quick", action="store_true", help="N=200, P=50")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    n, parallel, latency = (200, 50, 0.5) if args.quick else (1000, 100, 0.5)
    ideal = math.ceil(n / parallel) * latency

    import ray
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from parallelai.backends.ray_engine import disconnect
    from parallelai.models import Backend

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        on_ray = Backend.model_validate({"ray": {"address": cluster.address}})
        sleeper = ray.remote(Sleeper)
        actors = [
            sleeper.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False),
                num_cpus=0,
                max_concurrency=10_000,
            ).remote()
            for node in ray.nodes()  # type: ignore[no-untyped-call]  # ray leaves it unannotated
            if node["Alive"]
        ]
        sides: dict[str, Callable[[], dict[str, float]]] = {
            "local backend": lambda: measure_parallelai(n, parallel, latency, None),
            "bare Ray actors": lambda: measure_bare(actors, n, parallel, latency),
            "ray backend": lambda: measure_parallelai(n, parallel, latency, on_ray),
        }
        for measure in sides.values():  # untimed: the actors' and runners' processes start
            measure()
        best: dict[str, dict[str, float]] = {}
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for name in order:
                got = sides[name]()
                print(
                    f"round {round_ + 1}: {name:<16} {got['wall']:.3f} s (CPU {got['cpu']:.2f} s)",
                    file=sys.stderr,
                )
                if name not in best or got["wall"] < best[name]["wall"]:
                    best[name] = got
    finally:
        disconnect()
        cluster.shutdown()  # type: ignore[no-untyped-call]  # ray leaves it unannotated

    label = f"(k) {n:,} echo x {latency:g} s, P={parallel}, {args.nodes} nodes: ideal/makespan"
    ray_ratio = ideal / best["ray backend"]["wall"]
    met = ray_ratio >= TARGET
    print("| case | ray backend | local backend | bare Ray actors | ratio / target | pass? |")
    print("|---|---|---|---|---|---|")
    cells = [
        f"{ideal / best[name]['wall']:.4f} ({best[name]['wall']:.3f} s, CPU {best[name]['cpu']:.2f} s)"
        for name in ("ray backend", "local backend", "bare Ray actors")
    ]
    print(f"| {label} | {' | '.join(cells)} | {ray_ratio:.4f} >= {TARGET} | {'PASS' if met else 'FAIL'} |")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
