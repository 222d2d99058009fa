"""Who executes a run: the owner written in the run's row (its lease), and whether it still lives.

Any number of processes share one store; only the lease holder starts a run's tasks. The lease
is taken with a compare-and-swap in the store (`Store.claim_run`), so two processes can never
both hold it. It names a process by pid, start time and boot, so a reused pid is never mistaken
for a dead owner: a successor breaks the lease of an owner that no longer runs, stops the agents
it left behind (they carry the owner's tag) and closes its cut-off attempts before anything runs
again. Owners in this process are told apart by an instance id, live while their service is open.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from parallelai.processes import ProcessIdentity

Role = Literal["daemon", "local"]

# The instances open in this process: an owner whose process is this one lives while it is here.
_open_instances: set[str] = set()


class Owner(BaseModel):
    """One open orchestration service: the process it runs in, and which one of its services."""

    model_config = ConfigDict(frozen=True)

    pid: int
    start_ticks: int
    boot_id: str
    instance: str
    role: Role
    program: str  # what the process is, for people ("parallelai run"); never its arguments

    @classmethod
    def new(cls, role: Role) -> Owner:
        process = ProcessIdentity.current()
        return cls(
            pid=process.pid,
            start_ticks=process.start_ticks,
            boot_id=process.boot_id,
            instance=secrets.token_hex(4),
            role=role,
            program=_program_name(),
        )

    @classmethod
    def from_json(cls, text: str | None) -> Owner | None:
        if not text:
            return None
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return None  # written by something else: nobody we could wait for

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def process(self) -> ProcessIdentity:
        return ProcessIdentity(boot_id=self.boot_id, pid=self.pid, start_ticks=self.start_ticks)

    @property
    def tag(self) -> str:
        """The first part of its agents' tags: all of them, and nothing else, start with it."""
        return f"{self.pid}.{self.start_ticks}.{self.instance}"

    def agent_tag(self, run_id: str, task_id: str, attempt: int) -> str:
        return f"{self.tag}/{run_id}/{task_id}/{attempt}"

    def describe(self) -> str:
        return f"the daemon (pid {self.pid})" if self.role == "daemon" else f"pid {self.pid} ({self.program})"

    def alive(self) -> bool:
        if self.process == ProcessIdentity.current():
            return self.instance in _open_instances
        return self.process.alive()

    def open(self) -> None:
        _open_instances.add(self.instance)

    def close(self) -> None:
        _open_instances.discard(self.instance)


def _program_name() -> str:
    """`parallelai run`, `parallelai serve`, `script.py`: the program and a subcommand, no options
    or values (an argument may hold a secret, and this ends up in API answers)."""
    argv = sys.argv
    if not argv or not argv[0]:
        return "python"
    name = Path(argv[0]).name
    if name in ("__main__.py", "-m", "-c"):
        name = "python"
    if name == "parallelai" and len(argv) > 1 and argv[1].isidentifier():
        name += f" {argv[1]}"
    if name == "daemon.py":
        name = "parallelai serve"
    return name or f"pid {os.getpid()}"


__all__ = ["Owner", "Role"]
