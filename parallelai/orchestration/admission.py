"""Admission: which ready task may start next under the global and per-engine limits.

Ready tasks wait in one FIFO queue per engine; a slot is claimed round-robin over the engines so
one engine's backlog cannot starve another's. The scheduler claims a slot with `take` when it
starts a task and gives it back with `release` when the attempt ends (a task waiting to retry
holds none).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from parallelai.models import RunLimits


class Admission:
    def __init__(self, limits: RunLimits) -> None:
        self._limit = limits.max_parallel
        self._per_engine = limits.per_engine
        self._ready: dict[str, deque[str]] = {}
        self._running: dict[str, int] = {}
        self.running_total = 0

    def enqueue(self, task_id: str, engine: str) -> None:
        self._ready.setdefault(engine, deque()).append(task_id)

    def take(self) -> str | None:
        """Claim a slot for the next ready task the limits allow, or None."""
        if self.running_total >= self._limit:
            return None
        for engine, queue in self._ready.items():
            if not queue:
                continue
            running = self._running.get(engine, 0)
            if running >= self._per_engine.get(engine, self._limit):
                continue
            self._running[engine] = running + 1
            self.running_total += 1
            return queue.popleft()
        return None

    def release(self, engine: str) -> None:
        """Give back the slot an attempt on `engine` held."""
        self.running_total -= 1
        self._running[engine] -= 1

    def discard(self, task_id: str, engine: str) -> None:
        """Take `task_id` out of its queue, if it is waiting there."""
        queue = self._ready.get(engine)
        if queue is not None and task_id in queue:
            queue.remove(task_id)

    def drain(self) -> Iterator[str]:
        """Every waiting task, each removed from its queue as it is yielded."""
        for queue in self._ready.values():
            while queue:
                yield queue.popleft()
