"""How a finished run is printed: one summary line (and a note), or JSON with every task."""

from __future__ import annotations

import json
from typing import Any

from parallelai.models import RunSummary, TaskRecord, TaskState


def print_summary(summary: RunSummary, as_json: bool, records: list[TaskRecord]) -> None:
    if as_json:
        body: dict[str, Any] = summary.model_dump(mode="json")
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
    counts = summary.counts
    parts = [
        f"{counts[state]} {state}"
        for state in TaskState
        if counts[state] and state is not TaskState.SUCCEEDED
    ]
    elapsed = (summary.finished_at or summary.created_at) - summary.created_at
    line = (
        f"run {summary.id} {summary.state}: {counts[TaskState.SUCCEEDED]}/{summary.total} succeeded"
        + (f", {', '.join(parts)}" if parts else "")
        + (f", {summary.reused} reused from cache" if summary.reused else "")
        + f" · {summary.usage.total_tokens} tokens · ${summary.usage.cost_usd:.4f} · {elapsed:.1f}s"
    )
    print(line)
    if summary.note:
        print(f"note: {summary.note}")
