"""Finding the processes a test started, by a marker in their environment, through /proc (Linux)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    ppid: int
    sid: int
    state: str  # "Z" for a zombie
    command: str


def processes_with_env(marker: str) -> list[ProcessInfo]:
    """Live (or zombie) processes whose environment contains `marker`, e.g. a unique tmp path."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes():
                continue
            found.append(_info(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # it exited while we looked
    return found


def processes_in_sessions(sids: set[int]) -> list[ProcessInfo]:
    """Every process whose session id is one of `sids` (a zombie's environ is empty, its sid is not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            info = _info(entry)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if info.sid in sids:
            found.append(info)
    return found


def _info(entry: Path) -> ProcessInfo:
    stat = (entry / "stat").read_text()
    # The command sits in parentheses and may itself contain spaces or parentheses.
    command = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return ProcessInfo(
        pid=int(entry.name), ppid=int(fields[1]), sid=int(fields[3]), state=fields[0], command=command
    )


def leftovers(processes: list[ProcessInfo]) -> list[ProcessInfo]:
    """Those still running, or dead and not reaped by us (a zombie left to init is init's to reap)."""
    return [p for p in processes if p.state != "Z" or p.ppid != 1]
