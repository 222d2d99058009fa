"""Gates: the commands parallelai runs itself in a run's workdir once its tasks are done.

A gate is the user's own check — a test suite, a linter, a build. Its exit code decides whether
the run's work holds, never an agent's report of it. Each runs as a child process in a session of
its own (`run_process`), tagged like an agent, so a cancel, its timeout or the death of our
process stops its whole tree. It gets the user's whole environment: unlike an agent's, the
command is the user's own, and must run as it runs in their terminal (a virtualenv, PYTHONPATH).

Gates run one after another, all of them even after one failed, so a report names every check
that does not hold. They run only when every task succeeded; otherwise the run has failed already
and each gate is recorded as skipped, with the reason. In a run with isolation the tasks' changes
are on the integration branch, not in the workdir: the gates run in a checkout of that branch
(`RunIsolation.integration_checkout`), so they check what `apply` would bring. A task's own gates
(`task_gates.py`) run the same way, in its worktree.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio

from parallelai.engines._cli.process import run_process
from parallelai.engines.agent_tags import tagging
from parallelai.events import GateFinished, GateStarted
from parallelai.models import Gate, GateResult
from parallelai.orchestration.bus import EventBus
from parallelai.orchestration.store import Store

OUTPUT_TAIL_BYTES = 4096  # what a result keeps of a gate's output: its end, where verdicts are
KILL_GRACE_S = 5.0  # a test runner stopped by a timeout may take a moment to stop its workers


async def run_gate(gate: Gate, workdir: Path, env: Mapping[str, str] | None = None) -> GateResult:
    """Run `gate` in `workdir` to its end (or its timeout), in our environment (or `env`); a
    result, never an exception."""
    started = time.monotonic()
    tail = _Tail(OUTPUT_TAIL_BYTES)
    # `exec 2>&1` first: stdout and stderr interleaved as printed, as a terminal shows them.
    argv = ["/bin/sh", "-c", "exec 2>&1\n" + gate.command]
    returncode: int | None = None
    reason: str | None = None
    with anyio.move_on_after(gate.timeout or math.inf) as deadline:
        try:
            outcome = await run_process(
                argv, cwd=workdir, env=env, on_line=tail.add, kill_grace_s=KILL_GRACE_S
            )
            returncode = outcome.returncode
        except OSError as error:  # no such workdir, no /bin/sh
            reason = f"cannot start it in {workdir}: {error}"
    if deadline.cancelled_caught:
        reason = f"timed out after {gate.timeout:g}s and was stopped"
    elif returncode is not None and returncode != 0:
        reason = f"exit code {returncode}"
    return GateResult(
        name=gate.label,
        command=gate.command,
        state="passed" if returncode == 0 else "failed",
        exit_code=returncode,
        duration_s=time.monotonic() - started,
        output=tail.text(),
        reason=reason,
    )


def skipped(gate: Gate, reason: str) -> GateResult:
    return GateResult(name=gate.label, command=gate.command, state="skipped", reason=reason)


class RunGates:
    """One run's gates: each run (or skipped), its result stored and published as it ends."""

    def __init__(
        self,
        run_id: str,
        gates: Sequence[Gate],
        *,
        store: Store,
        bus: EventBus,
        workdir: Path,
        agent_tag: str,
    ) -> None:
        self._run_id = run_id
        self._gates = list(gates)
        self._store = store
        self._bus = bus
        self._workdir = workdir
        self._agent_tag = agent_tag
        self._scope: anyio.CancelScope | None = None
        self._stopped: str | None = None
        self.results: list[GateResult] = []

    def __bool__(self) -> bool:
        return bool(self._gates)

    def forget(self) -> None:
        """The run executes again: what its gates said last time no longer holds."""
        if self._gates:
            self._store.clear_gates(self._run_id)

    async def run(self, workdir: Path | None = None) -> list[GateResult]:
        """Run every gate in order, in the run's workdir (or `workdir`); a `stop` skips the one
        running and those after it."""
        for position, gate in enumerate(self._gates):
            if self._stopped is not None:
                self._record(position, skipped(gate, self._stopped))
                continue
            self._bus.publish(GateStarted(run_id=self._run_id, name=gate.label, command=gate.command))
            with anyio.CancelScope() as scope, tagging(f"{self._agent_tag}/gate.{position + 1}/1"):
                self._scope = scope
                result = await run_gate(gate, workdir or self._workdir)
            self._scope = None
            stopped = self._stopped if scope.cancelled_caught else None
            self._record(position, result if stopped is None else skipped(gate, stopped))
        return self.results

    def skip(self, reason: str) -> list[GateResult]:
        """Record every gate as skipped, with `reason` (the run failed or was cancelled first)."""
        for position, gate in enumerate(self._gates):
            self._record(position, skipped(gate, reason))
        return self.results

    def fail(self, reason: str) -> list[GateResult]:
        """Record every gate as failed without running it: there was nowhere to run it (`reason`)."""
        for position, gate in enumerate(self._gates):
            self._record(position, skipped(gate, reason).model_copy(update={"state": "failed"}))
        return self.results

    def stop(self, reason: str) -> None:
        """Stop the gate running, if any (its process tree too); skip the rest."""
        self._stopped = reason
        if self._scope is not None:
            self._scope.cancel()

    def _record(self, position: int, result: GateResult) -> None:
        self.results.append(result)
        self._store.record_gate(self._run_id, position, result)
        self._bus.publish(GateFinished(run_id=self._run_id, result=result))


class _Tail:
    """The last `limit` bytes (about) of a stream of lines."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lines: deque[str] = deque()
        self._size = 0

    def add(self, line: str) -> None:
        line = line[-self._limit :]
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > self._limit and len(self._lines) > 1:
            self._size -= len(self._lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self._lines)
