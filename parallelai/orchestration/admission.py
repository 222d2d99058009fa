"""Admission: which ready task may start next under the global and per-engine limits.

Ready tasks wait in one FIFO queue per engine; a slot is claimed round-robin over the engines so
one engine's backlog cannot starve another's. The scheduler claims a slot with `take` when it
starts a task and gives it back with `release` when the attempt ends (a task waiting to retry
holds none). Under a budget a slot also takes a reservation of what the task is expected to
spend (`Budget.reserve`), so the tasks running at once never promise more than the budget has.
Under the adaptive strategy an engine's limit is also what its controller allows at the moment.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

from parallelai.models import RunLimits
from parallelai.orchestration.adaptive import AdaptiveConcurrency
from parallelai.orchestration.budget import Budget, Reservation


class Admission:
    def __init__(
        self, limits: RunLimits, budget: Budget, adaptive: AdaptiveConcurrency | None = None
    ) -> None:
        self._limit = limits.max_parallel
        self._per_engine = limits.per_engine
        self._budget = budget
        self._adaptive = adaptive
        self._ready: dict[str, deque[str]] = {}
        self._running: dict[str, int] = {}
        self._reservations: dict[str, Reservation] = {}
        # Under the adaptive strategy, each running task's admission: the controller's epoch then,
        # and its place among its engine's running tasks. A refusal answers the limit its attempt
        # was admitted under (however late it then started), at the concurrency it made.
        self._admitted: dict[str, tuple[int, int]] = {}
        self.running_total = 0
        self.held_by_budget = False  # the last `take` left a ready task waiting for the budget

    def enqueue(self, task_id: str, engine: str) -> None:
        self._ready.setdefault(engine, deque()).append(task_id)

    def take(self) -> str | None:
        """Claim a slot for the next ready task the limits and the budget allow, or None."""
        self.held_by_budget = False
        if self.running_total >= self._limit:
            return None
        now = time.monotonic() if self._adaptive is not None else 0.0
        for engine, queue in self._ready.items():
            if not queue:
                continue
            running = self._running.get(engine, 0)
            if running >= self._per_engine.get(engine, self._limit):
                continue
            adaptive = self._adaptive
            if adaptive is not None and running >= adaptive.allowed(engine, now):
                continue
            reservation = self._budget.reserve(engine)
            if reservation is None:
                self.held_by_budget = True
                continue
            self._running[engine] = running + 1
            self.running_total += 1
            task_id = queue.popleft()
            self._reservations[task_id] = reservation
            if adaptive is not None:
                self._admitted[task_id] = (adaptive.epoch(engine), running + 1)
            return task_id
        return None

    def running(self, engine: str) -> int:
        return self._running.get(engine, 0)

    def admitted(self, task_id: str) -> tuple[int, int]:
        """The running `task_id`'s admission: the adaptive controller's epoch, its engine's count."""
        return self._admitted.get(task_id, (0, 0))

    def release(self, task_id: str, engine: str) -> None:
        """Give back the slot (and the reservation) `task_id`'s attempt on `engine` held."""
        self.running_total -= 1
        self._running[engine] -= 1
        self._budget.release(self._reservations.pop(task_id))
        self._admitted.pop(task_id, None)

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
