"""Runs on the ray backend, on a local three-node cluster: the same results as the local backend for
every strategy, a lost node costs nothing, the rate gate holds across nodes, cancelled attempts stop
on their node, and code changed on different nodes is merged."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("ray")

from parallelai.backends.ray_engine import RemoteEngine, connect, on_ray_cluster
from parallelai.engines.registry import EngineRegistry
from parallelai.events import TaskOutput, TaskStateChanged
from parallelai.models import Backend, ErrorKind, RunLimits, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.output_schemas import ValidatingEngine, enforcing_output_schemas
from parallelai.orchestration.service import OrchestrationService
from tests.backends._support import nodes_of, planned, rows, run_to_end
from tests.support.polling import until

pytestmark = pytest.mark.anyio

WORK: dict[str, dict[str, Any]] = {
    "parallel": {"tasks": ["first", "second", "third", "fourth"]},
    "dag": {
        "strategy": "dag",
        "tasks": [
            {"id": "a", "prompt": "plan"},
            {"id": "b", "prompt": "build on {{ outputs.a }}", "depends_on": ["a"]},
            {"id": "c", "prompt": "test {{ outputs.a }}", "depends_on": ["a"]},
            {"id": "d", "prompt": "ship {{ output }}", "depends_on": ["b", "c"]},
        ],
    },
    "batch": {
        "strategy": "batch",
        "items": ["v", "w", "x", "y", "z"],
        "prompt": "sum {{ items }}",
        "batch_size": 2,
    },
    "pipeline": {
        "strategy": "pipeline",
        "items": ["p", "q", "r"],
        "stages": [{"prompt": "draft {{ item }}"}, {"prompt": "review: {{ output }}"}],
    },
    "mapreduce": {
        "strategy": "mapreduce",
        "items": [1, 2, 3, 4, 5],
        "map": {"prompt": "map {{ item }}"},
        "reduce": {"prompt": "reduce {{ output }}"},
        "fan_in": 2,
    },
    "adaptive": {"strategy": "adaptive", "tasks": [f"item {n}" for n in range(6)]},
}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


@pytest.fixture
async def service(store_path: Path) -> Any:
    registry = EngineRegistry.from_entry_points()
    registry.register_lazy("gated", "tests.backends.engines:GatedEngine")
    async with OrchestrationService.open(store_path, registry) as opened:
        yield opened


@pytest.mark.parametrize("strategy", list(WORK))
async def test_every_strategy_ends_with_the_results_of_the_local_backend(
    service: OrchestrationService, on_ray: Backend, strategy: str
) -> None:
    outcomes = {}
    for backend in (None, on_ray):
        spec = planned(work=WORK[strategy], backend=backend, use_cache=False, parallel=3)
        summary, events = await run_to_end(service, spec)
        assert summary.state is RunState.SUCCEEDED
        records = await service.tasks(summary.id)
        outcomes[backend is not None] = {
            record.task.id: (record.state, record.result.text if record.result else None)
            for record in records
        }
        if backend is not None:
            assert (await service.spec(summary.id)).backend == on_ray  # kept: `resume` runs it there again
            assert set(nodes_of(events)) == set(outcomes[True])  # every attempt went to a node
    assert outcomes[True] == outcomes[False]
    assert all(state is TaskState.SUCCEEDED for state, _ in outcomes[True].values())


async def test_a_node_lost_mid_run_loses_no_task_and_records_each_result_once(
    service: OrchestrationService, ray_cluster: Any, on_ray: Backend, store_path: Path
) -> None:
    node = ray_cluster.add_node(num_cpus=1)
    await anyio.to_thread.run_sync(ray_cluster.wait_for_nodes)
    assert on_ray.ray is not None
    cluster = connect(on_ray.ray)
    await anyio.to_thread.run_sync(cluster.refresh)
    doomed = node.node_id
    tasks = [Task(id=f"t{n:02}", prompt=f"part {n}") for n in range(24)]
    spec = RunSpec(
        tasks=tasks,
        engine_settings={"echo": {"latency": 0.5}},
        limits=RunLimits(max_parallel=8, backoff_base_s=0.05),
        use_cache=False,
        backend=on_ray,
    )

    async with anyio.create_task_group() as group:

        async def lose_the_node_once_it_runs_attempts() -> None:
            await until(lambda: doomed in cluster.runners and cluster.runners[doomed].busy > 0, 30)
            await anyio.to_thread.run_sync(ray_cluster.remove_node, node)

        group.start_soon(lose_the_node_once_it_runs_attempts)
        summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    records = {record.task.id: record for record in await service.tasks(summary.id)}
    assert {task_id: record.result.text for task_id, record in records.items() if record.result} == {
        task.id: f"echo: {task.prompt}" for task in tasks
    }
    # Each task's result is stored once, and exactly one attempt of each succeeded.
    assert rows(store_path, "SELECT COUNT(*) FROM results WHERE run_id = ?", summary.id) == [(len(tasks),)]
    succeeded = rows(
        store_path,
        "SELECT task_id, COUNT(*) FROM attempts WHERE run_id = ? AND state = 'succeeded' GROUP BY task_id",
        summary.id,
    )
    assert sorted(succeeded) == [(task.id, 1) for task in tasks]
    # The attempts cut off by the lost node failed as transient and ran again, on another node.
    lost = rows(
        store_path,
        "SELECT task_id, error_kind FROM attempts WHERE run_id = ? AND error_message LIKE '%was lost%'",
        summary.id,
    )
    assert lost
    assert {kind for _, kind in lost} == {ErrorKind.TRANSIENT.value}
    placed = nodes_of(events)
    for task_id, _ in lost:
        assert placed[task_id][0] == doomed
        assert placed[task_id][-1] != doomed


async def test_a_rate_limit_met_on_one_node_holds_every_node_until_the_wait_is_over(
    service: OrchestrationService, on_ray: Backend, tmp_path: Path
) -> None:
    log = tmp_path / "starts.log"
    pause_s = 1.5
    tasks = [Task(id="limit", prompt="limit")] + [Task(id=f"t{n:02}", prompt=f"p{n}") for n in range(24)]
    spec = RunSpec(
        tasks=tasks,
        default_engine="gated",
        engine_settings={"gated": {"log": str(log), "pause_s": pause_s, "work_s": 0.1}},
        limits=RunLimits(max_parallel=4, backoff_base_s=0.01),
        use_cache=False,
        backend=on_ray,
    )

    summary, _ = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    lines = [line.split() for line in log.read_text().splitlines()]
    limited_at = next(float(when) for when, what, *_ in lines if what == "limit")
    starts = [(float(when), node) for when, what, node, _ in lines if what == "start"]
    # While the account is paused no node starts an attempt (allowing the report's trip to the
    # coordinator); before it, and after it, attempts started on several nodes.
    during = [when for when, _ in starts if limited_at + 0.3 < when < limited_at + pause_s - 0.05]
    assert during == []
    after = {node for when, node in starts if when >= limited_at + pause_s - 0.05}
    assert len(after) >= 2
    assert len({node for _, node in starts}) >= 2


async def test_a_timed_out_attempt_stops_its_agent_process_on_the_node(
    service: OrchestrationService, on_ray: Backend, tmp_path: Path
) -> None:
    pid_file = tmp_path / "agent.pid"
    spec = RunSpec(
        tasks=[Task(id="stuck", prompt="wait", options=TaskOptions(timeout=2, retries=0))],
        default_engine="command",
        engine_settings={"command": {"shell": f"echo $$ > {pid_file}; exec sleep 300", "kill_grace_s": 0.5}},
        use_cache=False,
        backend=on_ray,
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.FAILED
    (record,) = await service.tasks(summary.id)
    assert record.result is not None
    assert record.result.error is not None
    assert record.result.error.kind is ErrorKind.TIMEOUT
    assert nodes_of(events)["stuck"]
    pid = int(pid_file.read_text())
    await until(lambda: not _alive(pid), 10)
    assert on_ray.ray is not None
    cluster = connect(on_ray.ray)
    # Every runner lets the attempt go.
    for runner in list(cluster.runners.values()):
        if runner.alive:
            await until(_idle(runner.handle), 10)


async def test_a_code_changing_run_merges_changes_made_on_different_nodes(
    service: OrchestrationService, on_ray: Backend, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("base\n")
    _git(repo, "add", "README")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    spec = planned(
        prompts=names,
        engine="command",
        engine_options={"shell": 'printf "%s\\n" "$PROMPT" > "$PROMPT.txt"; sleep 0.3'},
        workdir=str(repo),
        isolation=True,
        parallel=3,
        use_cache=False,
        backend=on_ray,
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    branch = f"parallelai/{summary.id}"
    for name in names:
        assert _git(repo, "show", f"{branch}:{name}.txt") == f"{name}\n"
    placed = nodes_of(events)
    assert len({nodes[-1] for nodes in placed.values()}) >= 2


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _idle(runner: Any) -> Callable[[], bool]:
    """Whether the runner (an actor handle) has no attempt running."""

    def idle() -> bool:
        import ray

        return bool(ray.get(runner.running.remote(), timeout=5) == 0)

    return idle


async def test_a_lasting_attempt_streams_its_output_while_it_runs_and_stops_when_cancelled(
    service: OrchestrationService, on_ray: Backend, tmp_path: Path
) -> None:
    log = tmp_path / "gated.log"
    spec = RunSpec(
        tasks=[Task(id="long", prompt="hold", options=TaskOptions(timeout=120, retries=0))],
        default_engine="gated",
        engine_settings={"gated": {"log": str(log)}},
        use_cache=False,
        backend=on_ray,
    )
    after = service.bus.last_seq
    with anyio.fail_after(60):
        run_id = await service.submit(spec)
        async with aclosing(service.events(after, run_id)) as stream:
            async for event in stream:
                assert not (isinstance(event, TaskStateChanged) and event.state.is_final)
                if isinstance(event, TaskOutput) and event.text == "started":
                    break
        summary = await service.cancel(run_id)

    assert summary.state is RunState.CANCELLED
    (record,) = await service.tasks(run_id)
    assert record.state is TaskState.CANCELLED
    # The cancel reached the engine on its node.
    await until(lambda: "stopped" in log.read_text(), 10)


async def test_an_engine_that_needs_a_resource_runs_only_on_the_nodes_that_declare_it(
    service: OrchestrationService, ray_cluster: Any, on_ray: Backend
) -> None:
    assert on_ray.ray is not None
    cluster = connect(on_ray.ray)
    node = ray_cluster.add_node(num_cpus=1, resources={"special": 1})
    try:
        await anyio.to_thread.run_sync(ray_cluster.wait_for_nodes)
        await anyio.to_thread.run_sync(cluster.refresh)
        needs = on_ray.model_copy(
            update={"ray": on_ray.ray.model_copy(update={"resources": {"echo": {"special": 1}}})}
        )
        spec = planned(prompts=[f"job {n}" for n in range(6)], backend=needs, parallel=6, use_cache=False)

        summary, events = await run_to_end(service, spec)

        assert summary.state is RunState.SUCCEEDED
        assert {nodes[-1] for nodes in nodes_of(events).values()} == {node.node_id}
    finally:
        await anyio.to_thread.run_sync(ray_cluster.remove_node, node)
        cluster.lost(cluster.runners[node.node_id])  # no later test sends it attempts


async def test_a_killed_runner_leaves_no_agent_behind_and_its_attempt_runs_again_elsewhere(
    service: OrchestrationService, on_ray: Backend, tmp_path: Path, store_path: Path
) -> None:
    import ray

    pid_file, marker = tmp_path / "agent.pid", tmp_path / "tried"
    # The first attempt waits (its runner is killed meanwhile); the next one finds the marker and ends.
    shell = (
        f"if [ -e {marker} ]; then echo again; else touch {marker}; echo $$ > {pid_file}; exec sleep 300; fi"
    )
    spec = RunSpec(
        tasks=[Task(id="only", prompt="go", options=TaskOptions(timeout=60, retries=1))],
        default_engine="command",
        engine_settings={"command": {"shell": shell}},
        limits=RunLimits(backoff_base_s=0.01),
        use_cache=False,
        backend=on_ray,
    )
    assert on_ray.ray is not None
    cluster = connect(on_ray.ray)

    async with anyio.create_task_group() as group:

        async def kill_its_runner_once_the_agent_runs() -> None:
            await until(pid_file.exists, 30)
            (busy,) = [runner for runner in cluster.runners.values() if runner.busy]
            ray.kill(busy.handle, no_restart=True)

        group.start_soon(kill_its_runner_once_the_agent_runs)
        summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    (record,) = await service.tasks(summary.id)
    assert record.result is not None
    assert record.result.text.strip() == "again"
    # The agent of the killed runner was stopped on its node (the runner's warden), and nothing of
    # its attempt was recorded but the failure; the result is the second attempt's, stored once.
    pid = int(pid_file.read_text())
    await until(lambda: not _alive(pid), 15)
    states = rows(
        store_path, "SELECT number, state FROM attempts WHERE run_id = ? ORDER BY number", summary.id
    )
    assert states == [(1, "failed"), (2, "succeeded")]
    assert rows(store_path, "SELECT COUNT(*) FROM results WHERE run_id = ?", summary.id) == [(1,)]
    first, second = nodes_of(events)["only"]
    assert first != second
    await anyio.to_thread.run_sync(cluster.refresh)  # a new runner on that node, for the next tests


async def test_api_engines_stay_in_the_coordinator_and_answers_are_checked_there_too(
    on_ray: Backend,
) -> None:
    registry = enforcing_output_schemas(EngineRegistry.from_entry_points())
    engines = {name: registry.create(name, {}) for name in ("openai", "anthropic", "ollama", "echo")}

    placed = on_ray_cluster(on_ray, engines, {})

    # API engines stay where their account's rate gate is; the rest run on the nodes, inside the
    # same output-schema check as locally (re-asking is the coordinator's, not a node's).
    assert {name for name, engine in placed.items() if engine is engines[name]} == {
        "openai",
        "anthropic",
        "ollama",
    }
    echo = placed["echo"]
    assert isinstance(echo, ValidatingEngine)
    assert isinstance(echo.inner, RemoteEngine)
