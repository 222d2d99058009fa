"""Prometheus metrics for runs, fed by the event bus: tasks by state and engine, durations,
tokens and cost, retries, rate limits, concurrency, queue depth and tasks waiting to retry — and the
rate gates' state (`gate_metrics.py`).

`RunMetrics.follow(service, after)` subscribes to the events and keeps the numbers; each
instance has its own registry, so two daemons in one process (tests) never share counters.
Every series whose labels are known in advance (the states, the engines installed, the error
kinds a retry can have) is exported at 0 from the start: Prometheus' `increase()` and `rate()`
need a sample before the first event, or they miss it.
Task gauges cover the runs this process has seen start since it began. Only `running` tasks
count towards concurrency: a task waiting out a retry backoff holds no slot and is counted in
`parallelai_retrying` instead.
"""

from __future__ import annotations

import platform
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from parallelai._version import __version__
from parallelai.events import (
    Event,
    RateLimited,
    RunFinished,
    RunStarted,
    TaskRetrying,
    TaskStateChanged,
    TaskUsage,
)
from parallelai.models import EngineSpec, ErrorKind, RunState, TaskState, Usage
from parallelai.monitor.gate_metrics import RateGateCollector
from parallelai.orchestration.service import OrchestrationService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Agents take seconds to many minutes; the default buckets stop at 10 s.
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# The ended runs whose failed, cancelled, skipped and interrupted tasks are remembered, so that a
# `retry` or `resume` moves them out of those states in the gauge instead of counting them twice.
SETTLED_RUNS_KEPT = 256
# What a run's end leaves in the task gauge: the states `retry` or `resume` may move a task out of.
_SETTLED = frozenset({TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED, TaskState.INTERRUPTED})
# The states a run can end in (a `RunFinished`), and the error kinds a task is retried for.
_RUN_ENDS = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)
_RETRIED_FOR = tuple(kind for kind in ErrorKind if kind.retryable)


@dataclass(slots=True)
class _Tracked:
    engine: str
    state: TaskState | None = None
    started_at: float | None = None
    usage: Usage | None = None  # the latest cumulative report of the current attempt


class RunMetrics:
    def __init__(self, engines: Iterable[str] = ()) -> None:
        """`engines`: the engine names whose series start at 0 (the installed engines)."""
        self.registry = CollectorRegistry()
        self.build_info = Gauge(
            "parallelai_build_info",
            "Always 1; the labels say which parallelai and Python the daemon runs",
            ["version", "python"],
            registry=self.registry,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.tasks = Gauge(
            "parallelai_tasks",
            "Tasks by current state and engine",
            ["state", "engine"],
            registry=self.registry,
        )
        self.running = Gauge("parallelai_concurrency", "Tasks running right now", registry=self.registry)
        self.queued = Gauge(
            "parallelai_queue_depth", "Tasks ready to start and waiting for a slot", registry=self.registry
        )
        self.retrying = Gauge(
            "parallelai_retrying",
            "Tasks waiting out a retry backoff (they hold no slot)",
            registry=self.registry,
        )
        self.duration = Histogram(
            "parallelai_task_duration_seconds",
            "From a task's last start to its end",
            ["engine", "state"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "parallelai_tokens", "Tokens engines reported", ["engine", "kind"], registry=self.registry
        )
        self.cost = Counter(
            "parallelai_cost_usd", "Cost engines reported, in USD", ["engine"], registry=self.registry
        )
        self.retries = Counter(
            "parallelai_task_retries", "Retries scheduled", ["engine", "error_kind"], registry=self.registry
        )
        self.rate_limited = Counter(
            "parallelai_rate_limited", "Rate-limit signals from providers", ["engine"], registry=self.registry
        )
        self.runs = Counter(
            "parallelai_runs_finished", "Runs that ended, by state", ["state"], registry=self.registry
        )
        self.registry.register(RateGateCollector())
        self._start_at_zero(sorted(set(engines)))
        # Tasks of runs going, until they succeed or their run ends: memory stays flat.
        self._tasks: dict[tuple[str, str], _Tracked] = {}
        # Per ended run (the newest SETTLED_RUNS_KEPT), its tasks the gauge counts in a _SETTLED state.
        self._settled: OrderedDict[str, dict[str, _Tracked]] = OrderedDict()
        self.last_seq = 0
        self._progress = anyio.Event()

    def _start_at_zero(self, engines: list[str]) -> None:
        # `.labels(...)` alone creates a series at 0; an engine not known here (a plugin installed
        # since) still gets its series at its first event.
        for state in _RUN_ENDS:
            self.runs.labels(state.value)
        for engine in engines:
            self.cost.labels(engine)
            self.rate_limited.labels(engine)
            for kind in ("input", "output"):
                self.tokens.labels(engine, kind)
            for error_kind in _RETRIED_FOR:
                self.retries.labels(engine, error_kind.value)
            for task_state in TaskState:
                self.tasks.labels(task_state.value, engine)
                if task_state.is_final:
                    self.duration.labels(engine, task_state.value)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def follow(self, service: OrchestrationService, after: int) -> None:
        """Keep the metrics up to date with every event after `after`, until cancelled."""
        async with aclosing(service.events(after)) as events:
            async for event in events:
                if isinstance(event, RunStarted):
                    await self._learn_engines(service, event.run_id)
                self.observe(event)
                self.last_seq = event.seq
                self._progress.set()
                self._progress = anyio.Event()

    async def caught_up(self, seq: int) -> None:
        """Wait until every event up to `seq` is counted."""
        while self.last_seq < seq:
            await self._progress.wait()

    async def _learn_engines(self, service: OrchestrationService, run_id: str) -> None:
        row = await service.store.get_run(run_id)
        if row is None:
            return
        engines = await service.store.task_engines(run_id)
        for task_id, own in engines.items():
            # Tasks a resumed run finished earlier get no events; `_forget` drops them at its end.
            engine = EngineSpec.parse(own or row.spec.default_engine).name
            self._tasks.setdefault((run_id, task_id), _Tracked(engine))

    def observe(self, event: Event) -> None:
        match event:
            case TaskStateChanged():
                self._state_changed(event)
            case TaskUsage():
                self._usage(event)
            case TaskRetrying():
                self.retries.labels(self._engine(event.run_id, event.task_id), event.error_kind.value).inc()
            case RateLimited():
                self.rate_limited.labels(event.engine).inc()
            case RunFinished():
                self.runs.labels(event.state.value).inc()
                self._forget(event.run_id)
            case _:
                pass

    def _state_changed(self, event: TaskStateChanged) -> None:
        key = (event.run_id, event.task_id)
        tracked = self._tasks.setdefault(key, _Tracked("unknown"))
        if tracked.state is None:
            # A task of an ended run that is retried or resumed leaves the state the run ended it in.
            settled = self._settled.get(event.run_id, {}).pop(event.task_id, None)
            if settled is not None:
                tracked.engine, tracked.state = settled.engine, settled.state
        if tracked.state is not None:
            self.tasks.labels(tracked.state.value, tracked.engine).dec()
            self._count_active(tracked.state, -1)
        self.tasks.labels(event.state.value, tracked.engine).inc()
        self._count_active(event.state, +1)
        tracked.state = event.state
        if event.state is TaskState.RUNNING:
            tracked.started_at, tracked.usage = event.at, None
        elif event.state.is_final:
            if tracked.started_at is not None:
                self.duration.labels(tracked.engine, event.state.value).observe(
                    max(0.0, event.at - tracked.started_at)
                )
                tracked.started_at = None
            if event.state is TaskState.SUCCEEDED:
                # The gauge keeps counting it as succeeded; only the bookkeeping goes.
                del self._tasks[key]

    def _usage(self, event: TaskUsage) -> None:
        tracked = self._tasks.get((event.run_id, event.task_id))
        if tracked is None:
            return
        # Reports are cumulative within an attempt: count what is new since the previous one.
        before = tracked.usage or Usage()
        engine = tracked.engine
        self.tokens.labels(engine, "input").inc(max(0, event.usage.input_tokens - before.input_tokens))
        self.tokens.labels(engine, "output").inc(max(0, event.usage.output_tokens - before.output_tokens))
        self.cost.labels(engine).inc(max(0.0, event.usage.cost_usd - before.cost_usd))
        tracked.usage = event.usage

    def _forget(self, run_id: str) -> None:
        """Drop what is left of a run (tasks it never reached, or finished before a restart); keep
        its failed, cancelled, skipped and interrupted tasks aside, for a retry or resume."""
        settled = self._settled.pop(run_id, {})
        for key in [key for key in self._tasks if key[0] == run_id]:
            tracked = self._tasks.pop(key)
            if tracked.state in _SETTLED:
                settled[key[1]] = tracked
            elif tracked.state is not None and not tracked.state.is_final:
                # e.g. tasks left pending when a fail-fast or budget stop ended the run
                self.tasks.labels(tracked.state.value, tracked.engine).dec()
                self._count_active(tracked.state, -1)
        if settled:
            self._settled[run_id] = settled
            while len(self._settled) > SETTLED_RUNS_KEPT:
                self._settled.popitem(last=False)

    def _count_active(self, state: TaskState, delta: int) -> None:
        if state is TaskState.RUNNING:
            self.running.inc(delta)
        elif state is TaskState.READY:
            self.queued.inc(delta)
        elif state is TaskState.RETRYING:
            self.retrying.inc(delta)

    def _engine(self, run_id: str, task_id: str) -> str:
        tracked = self._tasks.get((run_id, task_id))
        return tracked.engine if tracked else "unknown"
