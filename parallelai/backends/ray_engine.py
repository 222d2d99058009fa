"""The ray backend on the coordinator's side: each of a run's engines wrapped so that its attempts
run on runner actors of a Ray cluster (ray_runner.py), one runner per node.

The coordinator keeps everything but the engine's own work: `call_engine` still applies the
task's deadline and stop handle, waits on the provider's rate gate before an attempt is sent (an
agent's account, `rate_account`, is asked of the engine made here) and turns what the engine
emits into bus events — a rate-limit report from any node pauses the one central gate. What the
wrapper returns is recorded once, by the coordinator, as for a local engine.

Placement: an attempt goes to the least busy live runner whose node declares the resources the
run's `ray.resources` asks for the engine. A runner that dies (its node lost, its process killed)
ends its attempts as transient failures — the coordinator's retry runs them on another node — and
is left out from then on; nodes that join are found when runners are next listed.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import ray
import ray.exceptions
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from parallelai.backends.ray_runner import Assignment, Batch, Recipe, Runner
from parallelai.engines.agent_tags import current_tag
from parallelai.engines.base import (
    Activity,
    Emit,
    Engine,
    EngineRequest,
    EngineStatus,
    answer_source,
    edits_files,
    paces_requests,
    rate_account,
    rewrapped,
    unwrapped,
)
from parallelai.errors import InputError
from parallelai.models import Backend, ErrorKind, RayOptions, TaskError, TaskResult

if TYPE_CHECKING:
    from parallelai.ratelimits.account import Account

NAMESPACE = "parallelai"
RUNNER_CONCURRENCY = 10_000  # attempts one runner may hold at once; the run's limits bound them first
REFRESH_S = 30.0  # how often the live nodes are listed again (joined nodes get a runner)
# An attempt shorter than this sends what it emitted with its result; a longer one is asked for it
# (a long poll of LONG_POLL_S at most), so live output reaches the bus within this of its start.
FIRST_LOOK_S = 1.0
LONG_POLL_S = 10.0
# What a lost node or runner raises to a caller waiting on it: the attempt is retried elsewhere.
_LOST = (
    ray.exceptions.RayActorError,  # ActorDiedError, ActorUnavailableError
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,  # OwnerDiedError too
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.LocalRayletDiedError,
)


@dataclass(eq=False)
class _Runner:
    node_id: str
    resources: Mapping[str, float]
    handle: Any  # a Ray ActorHandle of `Runner`
    busy: int = 0
    alive: bool = True


@dataclass(eq=False)
class RayCluster:
    """The runners of the cluster this process is connected to, one per live node."""

    runners: dict[str, _Runner] = field(default_factory=dict)  # by node id
    _listed_at: float = 0.0
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _actor_class: Any = None

    def refresh(self) -> None:
        """Runners for nodes that joined; runners of nodes that left are dropped. Blocking: for
        callers off the event loop the runners are used on (`pick` lists nodes in a thread)."""
        self._update(_alive_nodes())

    def _update(self, alive: Mapping[str, Mapping[str, Any]]) -> None:
        if self._actor_class is None:
            self._actor_class = ray.remote(Runner)
        for node_id, runner in list(self.runners.items()):
            if node_id not in alive or not runner.alive:
                del self.runners[node_id]
        for node_id, node in alive.items():
            if node_id in self.runners:
                continue
            handle = self._actor_class.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
                num_cpus=0,  # a runner waits on agents; the agents' own work is what needs the CPU
                max_concurrency=RUNNER_CONCURRENCY,
                max_restarts=0,  # a lost runner's attempts are retried by the coordinator instead
                namespace=NAMESPACE,
            ).remote()
            self.runners[node_id] = _Runner(node_id, dict(node.get("Resources", {})), handle)
        self._listed_at = time.monotonic()

    async def pick(self, needs: Mapping[str, float]) -> _Runner | None:
        """The least busy live runner on a node with `needs`; None if there is none, even listed again."""
        if time.monotonic() - self._listed_at > REFRESH_S:
            await self._relist()
        chosen = self._least_busy(needs)
        if chosen is None:
            await self._relist()
            chosen = self._least_busy(needs)
        return chosen

    async def _relist(self) -> None:
        self._listed_at = time.monotonic()  # the attempts that come meanwhile do not list again
        self._update(await anyio.to_thread.run_sync(_alive_nodes))

    def _least_busy(self, needs: Mapping[str, float]) -> _Runner | None:
        able = [
            runner
            for runner in self.runners.values()
            if runner.alive
            and all(runner.resources.get(name, 0.0) >= amount for name, amount in needs.items())
        ]
        if not able:
            return None
        # Ties go round: equally busy nodes take turns.
        start = next(self._turn) % len(able)
        return min(able[start:] + able[:start], key=lambda runner: runner.busy)

    def lost(self, runner: _Runner) -> None:
        runner.alive = False

    def release(self, key: str) -> None:
        """Tell every live runner that engine `key`'s run has ended (fire and forget)."""
        for runner in self.runners.values():
            if runner.alive:
                runner.handle.release.remote(key)


def _alive_nodes() -> dict[str, Mapping[str, Any]]:
    """The cluster's live nodes by id, as Ray lists them (with their `Resources`). Blocking."""
    listed = ray.nodes()  # type: ignore[no-untyped-call]  # ray leaves it unannotated
    return {node["NodeID"]: node for node in listed if node.get("Alive")}


_clusters: dict[str, RayCluster] = {}
_connecting = threading.Lock()


def connect(options: RayOptions) -> RayCluster:
    """This process's connection to the cluster, made once (later runs share it). InputError when
    there is no cluster to connect to: the ray backend never starts one of its own."""
    address = options.address or os.environ.get("RAY_ADDRESS") or "auto"
    with _connecting:
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,
                    namespace=NAMESPACE,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise InputError(
                    f"no Ray cluster at {address!r} ({error}); start one (`ray start --head`, docs/ray.md) "
                    "or give its address: `backend: {ray: {address: HOST:PORT}}`, [ray] address, $RAY_ADDRESS"
                ) from None
        cluster = _clusters.get("current")
        if cluster is None:
            cluster = _clusters["current"] = RayCluster()
            cluster.refresh()
        return cluster


def disconnect() -> None:
    """Forget the cluster and leave it (the runners this process made end with it)."""
    with _connecting:
        _clusters.clear()
        if ray.is_initialized():
            ray.shutdown()


def on_ray_cluster(
    backend: Backend, engines: Mapping[str, Engine], settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, Engine]:
    """`engines` (made here with `settings`, by name) running their attempts on the cluster, but for
    those that pace their own HTTP requests (the API engines): they stay in the coordinator, where
    their account's rate gate is the one every run shares, and a node would only relay their I/O."""
    options = backend.ray or RayOptions()
    cluster = connect(options)
    # The wrappers (answers checked against output schemas, re-asked) stay here, around the remote
    # engine: a node only runs the engine itself.
    return {
        name: engine
        if paces_requests(unwrapped(engine))
        else rewrapped(
            engine,
            RemoteEngine(unwrapped(engine), settings.get(name, {}), cluster, options.resources.get(name, {})),
        )
        for name, engine in engines.items()
    }


class RemoteEngine:
    """An engine whose attempts run on the cluster; `engine` (made here) answers everything else."""

    def __init__(
        self, engine: Engine, settings: Mapping[str, Any], cluster: RayCluster, needs: Mapping[str, float]
    ) -> None:
        self.name = engine.name
        self.edits_files = edits_files(engine)
        self._local = engine
        self._cluster = cluster
        self._needs = dict(needs)
        self.recipe = Recipe(
            key=uuid.uuid4().hex,
            name=engine.name,
            factory=f"{type(engine).__module__}:{type(engine).__qualname__}",
            settings=dict(settings),
        )

    def rate_account(self, request: EngineRequest) -> Account | None:
        return rate_account(self._local, request)

    async def source(self, model: str | None) -> Mapping[str, str]:
        return await answer_source(self._local, model)

    async def status(self) -> EngineStatus:
        return await self._local.status()

    async def aclose(self) -> None:
        self._cluster.release(self.recipe.key)
        await self._local.aclose()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        runner = await self._cluster.pick(self._needs)
        if runner is None:
            wanted = f" with {self._needs}" if self._needs else ""
            return _failed(ErrorKind.TRANSIENT, f"no live Ray node{wanted} to run {self.name} on")
        emit(Activity(kind="node", detail=f"on Ray node {runner.node_id}"))
        attempt_id = uuid.uuid4().hex
        relay = _Relay(runner.handle, attempt_id, emit)
        runner.busy += 1
        batch: Batch | None = None
        lost: Exception | None = None
        call = runner.handle.run.remote(attempt_id, Assignment(self.recipe, request, current_tag()))
        try:
            # Most attempts of a big run are short: they need no relay beside them.
            with anyio.move_on_after(FIRST_LOOK_S):
                batch = await call
            if batch is None:
                async with anyio.create_task_group() as relaying:
                    relaying.start_soon(relay.while_running)
                    try:
                        batch = await call
                    finally:
                        relaying.cancel_scope.cancel()  # what it waited for comes with the result
        except anyio.get_cancelled_exc_class():
            ray.cancel(call)  # Ray cancels the runner's call: the engine stops its processes
            raise
        except (*_LOST, ray.exceptions.RayTaskError) as error:
            lost = error
        except BaseExceptionGroup as group:  # from the relaying group: the call's own error
            lost = next(
                (e for e in group.exceptions if isinstance(e, (*_LOST, ray.exceptions.RayTaskError))), None
            )
            if lost is None:
                raise
        finally:
            runner.busy -= 1
        if isinstance(lost, ray.exceptions.RayTaskError):
            return _failed(ErrorKind.INTERNAL, f"the runner on Ray node {runner.node_id} failed: {lost}")
        if lost is not None or batch is None or batch.result is None:
            self._cluster.lost(runner)
            return _failed(
                ErrorKind.TRANSIENT,
                f"Ray node {runner.node_id} was lost during the attempt ({type(lost).__name__}); "
                "it is retried on another node",
            )
        relay.emit_new(batch)
        return batch.result


class _Relay:
    """An attempt's events, relayed once each and in order: those a lasting attempt emits while it
    runs (a long poll), and the rest with its result. A short attempt's all come with its result."""

    def __init__(self, runner: Any, attempt_id: str, emit: Emit) -> None:
        self._runner = runner
        self._attempt_id = attempt_id
        self._emit = emit
        self.relayed = 0  # events emitted here so far

    def emit_new(self, batch: Batch) -> None:
        for event in batch.events[max(self.relayed - batch.first, 0) :]:
            self._emit(event)
        self.relayed = max(self.relayed, batch.first + len(batch.events))

    async def while_running(self) -> None:
        try:
            while True:
                got = await self._runner.events.remote(self._attempt_id, self.relayed, LONG_POLL_S)
                if got is None:
                    return
                self.emit_new(got)
        except (*_LOST, ray.exceptions.RayTaskError):
            return  # the attempt's own call says what happened


def _failed(kind: ErrorKind, message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message))
