"""How a finished run is printed: one summary line (and a note), or JSON with every task."""

from __future__ import annotations

import json
import time
from typing import Any

from parallelai.models import GateResult, RunSummary, TaskRecord, TaskState
from parallelai.reports.simulated import SIMULATED_MARK, SIMULATED_NOTICE


def print_summary(
    summary: RunSummary, as_json: bool, records: list[TaskRecord], *, simulated: bool = False
) -> None:
    """`simulated`: tasks ran on the echo engine, said before anything else."""
    if as_json:
        body: dict[str, Any] = {"simulated": simulated, **summary.model_dump(mode="json")}
        body["tasks"] = [
            {
                "id": record.task.id,
                "state": record.state,
                "reason": record.reason,
                "attempts": len(record.attempts),
                "result": record.result.model_dump(mode="json") if record.result else None,
            }
            for record in records
        ]
        print(json.dumps(body, indent=2))
        return
    # A failed gate first: the tasks may all have succeeded, and the run still did not.
    for gate in summary.failed_gates:
        print(gate_failure_line(gate))
    counts = summary.counts
    parts = [
        f"{counts[state]} {state}"
        for state in TaskState
        if counts[state] and state is not TaskState.SUCCEEDED
    ]
    # A run not finished (running, or shown half-way) has taken until now so far, as the API says.
    elapsed = max(0.0, (summary.finished_at or time.time()) - summary.created_at)
    line = (
        f"run {summary.id} {summary.state}: {counts[TaskState.SUCCEEDED]}/{summary.total} succeeded"
        + (f", {', '.join(parts)}" if parts else "")
        + (f", {summary.reused} reused from cache" if summary.reused else "")
        + f" · {summary.usage.total_tokens} tokens · ${summary.usage.cost_usd:.4f} · {elapsed:.1f}s"
    )
    if simulated:  # on the counts line itself, so that no count reads as real work
        line = f"{SIMULATED_MARK}{line}\n{SIMULATED_NOTICE}"
    print(line)
    if summary.note:
        print(f"note: {summary.note}")


def gate_failure_line(gate: GateResult) -> str:
    """`gate failed: pytest -q (exit code 1)`, and the last line it printed."""
    how = f"exit code {gate.exit_code}" if gate.exit_code is not None else gate.reason or "failed"
    last = gate.output.strip().splitlines()[-1:] if gate.output.strip() else []
    return f"gate failed: {gate.command} ({how})" + (f": {last[0]}" if last else "")
