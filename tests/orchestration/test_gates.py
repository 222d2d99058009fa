"""Gates: commands parallelai runs itself once the tasks are done; their exit code decides the run."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import anyio
import pytest

from parallelai.events import GateFinished, GateStarted, RunFinished
from parallelai.models import Gate, RunSpec, RunState, TaskState
from parallelai.orchestration.gates import OUTPUT_TAIL_BYTES
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import DEADLINE_S, echo_task, run_to_end, wait_for_event

pytestmark = pytest.mark.anyio

PYTHON = shlex.quote(sys.executable)
FAILING = f"{PYTHON} -c \"import sys; print('2 failed'); sys.exit(1)\""


def _spec(workdir: Path, *gates: Gate, fail_a_task: bool = False) -> RunSpec:
    tasks = [echo_task("a"), echo_task("b", retries=0, fail_attempts=1 if fail_a_task else 0)]
    return RunSpec(tasks=tasks, gates=list(gates), workdir=str(workdir), use_cache=False)


async def test_a_failing_gate_fails_the_run_and_keeps_its_exit_code_and_output(
    service: OrchestrationService, tmp_path: Path
) -> None:
    summary, events = await run_to_end(service, _spec(tmp_path, Gate(command=FAILING, name="tests")))

    assert summary.counts[TaskState.SUCCEEDED] == 2
    assert summary.state is RunState.FAILED
    [gate] = summary.gates
    assert (gate.name, gate.command, gate.state, gate.exit_code) == ("tests", FAILING, "failed", 1)
    assert gate.output == "2 failed"
    assert gate.reason == "exit code 1"
    assert summary.failed_gates == [gate]
    finished = [event for event in events if isinstance(event, GateFinished)]
    assert [event.result for event in finished] == [gate]
    assert isinstance(events[-1], RunFinished)
    assert events[-1].state is RunState.FAILED
    assert events[-1].gates == [gate]


async def test_passing_gates_run_in_the_workdir_in_order_and_the_run_succeeds(
    service: OrchestrationService, tmp_path: Path
) -> None:
    gates = [Gate(command="pwd; echo first >> order"), Gate(command="cat order; echo to stderr >&2")]

    summary, events = await run_to_end(service, _spec(tmp_path, *gates))

    assert summary.state is RunState.SUCCEEDED
    assert [gate.state for gate in summary.gates] == ["passed", "passed"]
    assert summary.gates[0].output == str(tmp_path)
    assert summary.gates[1].output == "first\nto stderr"  # stderr is kept, interleaved
    assert [event.name for event in events if isinstance(event, GateStarted)] == [g.command for g in gates]


async def test_every_gate_runs_even_after_one_failed(service: OrchestrationService, tmp_path: Path) -> None:
    summary, _ = await run_to_end(
        service, _spec(tmp_path, Gate(command="exit 3"), Gate(command="echo lint ok"))
    )

    assert [(gate.state, gate.exit_code) for gate in summary.gates] == [("failed", 3), ("passed", 0)]
    assert summary.state is RunState.FAILED


async def test_gates_are_skipped_when_a_task_failed(service: OrchestrationService, tmp_path: Path) -> None:
    summary, _ = await run_to_end(service, _spec(tmp_path, Gate(command="touch ran"), fail_a_task=True))

    assert summary.state is RunState.FAILED
    [gate] = summary.gates
    assert (gate.state, gate.exit_code, gate.reason) == ("skipped", None, "not every task succeeded")
    assert not (tmp_path / "ran").exists()


async def test_a_gate_past_its_timeout_is_stopped_and_fails_the_run(
    service: OrchestrationService, tmp_path: Path
) -> None:
    gate = Gate(command="echo started; exec sleep 60", timeout=0.2)

    summary, _ = await run_to_end(service, _spec(tmp_path, gate))

    [result] = summary.gates
    assert (result.state, result.exit_code) == ("failed", None)
    assert result.reason == "timed out after 0.2s and was stopped"
    assert result.output == "started"
    assert summary.state is RunState.FAILED


async def test_a_gate_keeps_only_the_end_of_a_long_output(
    service: OrchestrationService, tmp_path: Path
) -> None:
    command = f"{PYTHON} -c \"[print('line', n) for n in range(5000)]\""

    summary, _ = await run_to_end(service, _spec(tmp_path, Gate(command=command)))

    output = summary.gates[0].output
    assert len(output.encode()) <= OUTPUT_TAIL_BYTES
    assert output.endswith("line 4999")
    assert "line 0\n" not in output


async def test_cancelling_a_run_stops_its_running_gate_and_skips_it(
    service: OrchestrationService, tmp_path: Path
) -> None:
    run_id = await service.submit(_spec(tmp_path, Gate(command="exec sleep 60"), Gate(command="touch ran")))
    await wait_for_event(service, run_id, GateStarted)

    with anyio.fail_after(DEADLINE_S):
        summary = await service.cancel(run_id, "changed my mind")

    assert summary.state is RunState.CANCELLED
    assert [(gate.state, gate.reason) for gate in summary.gates] == [
        ("skipped", "changed my mind"),
        ("skipped", "changed my mind"),
    ]
    assert not (tmp_path / "ran").exists()


async def test_a_run_stopped_while_its_gate_runs_is_interrupted_and_runs_the_gate_on_resume(
    store_path: Path, tmp_path: Path
) -> None:
    # The gate waits until the test lets it pass, so the first service is stopped mid-gate.
    gate = Gate(command="test -e let-pass || exec sleep 60")
    async with OrchestrationService.open(store_path) as first:
        run_id = await first.submit(_spec(tmp_path, gate))
        await wait_for_event(first, run_id, GateStarted)
    (tmp_path / "let-pass").touch()

    async with OrchestrationService.open(store_path) as second:
        interrupted = await second.summary(run_id)
        assert interrupted.state is RunState.INTERRUPTED
        assert interrupted.gates == []
        with anyio.fail_after(DEADLINE_S):
            await second.resume(run_id)
            summary = await second.wait(run_id)

    assert summary.state is RunState.SUCCEEDED
    assert [gate.state for gate in summary.gates] == ["passed"]
    assert summary.counts[TaskState.SUCCEEDED] == 2
