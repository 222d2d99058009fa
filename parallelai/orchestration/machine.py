"""The machine's headroom for more agents: CPU load and available memory, read cheaply.

Read from `os.getloadavg` and `/proc/meminfo` (Linux; elsewhere memory is unknown), at most once
a second however often the scheduler asks: the adaptive strategy consults it after every attempt,
and neither figure moves faster than that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MEMINFO = Path("/proc/meminfo")
SAMPLE_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class MachineReading:
    load_per_cpu: float  # the 1-minute load average over the CPUs: above 1, work queues for a CPU
    available_bytes: int | None  # what can be allocated without swapping (MemAvailable); None if unknown


def read_machine() -> MachineReading:
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform: nothing says the CPUs are busy
        load = 0.0
    return MachineReading(load / (os.cpu_count() or 1), _available_bytes())


def _available_bytes() -> int | None:
    try:
        text = MEMINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    return None


class MachineProbe:
    """The latest reading, taken again only once `SAMPLE_EVERY_S` has passed."""

    def __init__(self) -> None:
        self._reading: MachineReading | None = None
        self._taken_at = 0.0

    def read(self, now: float) -> MachineReading:
        if self._reading is None or now - self._taken_at >= SAMPLE_EVERY_S:
            self._reading, self._taken_at = read_machine(), now
        return self._reading
