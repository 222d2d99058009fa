"""Where a run sent over HTTP or MCP may work: absolute, existing directories under allowed roots.

A caller with the token may start agents that edit files and run shell commands in the run's
workdir, so the daemon confines workdirs to the roots its user allows: by default the home
directory and the directory the daemon was started in (a daemon the CLI starts for `run --daemon`
starts where that command ran: the project, which need not be under home — /work, /srv), or the
directories in `PARALLELAI_WORKDIR_ROOTS` (separated like PATH), read once when the daemon starts
(docs/config.md). A request's workdir and tasks file are checked before the
request is planned (planning reads config files and the tasks file there), and the planned run's
workdirs, each task's included, before it starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from parallelai.errors import ConfigError, InputError
from parallelai.models import RunSpec
from parallelai.run_request import RunRequest

WORKDIR_ROOTS_ENV = "PARALLELAI_WORKDIR_ROOTS"


@dataclass(frozen=True, slots=True)
class WorkdirRoots:
    roots: tuple[Path, ...]  # resolved: symlinks cannot lead a workdir out of them

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkdirRoots:
        """`$PARALLELAI_WORKDIR_ROOTS`, else the home directory and the current one. ConfigError for a
        relative entry."""
        raw = (os.environ if environ is None else environ).get(WORKDIR_ROOTS_ENV, "")
        entries = [entry.strip() for entry in raw.split(os.pathsep) if entry.strip()]
        for entry in entries:
            if not Path(entry).expanduser().is_absolute():
                raise ConfigError(
                    WORKDIR_ROOTS_ENV, f"{entry!r} is not an absolute path; list absolute directories"
                )
        return cls.of(entries or [os.path.expanduser("~"), os.getcwd()])

    @classmethod
    def of(cls, roots: Iterable[str | Path]) -> WorkdirRoots:
        return cls(tuple(Path(root).expanduser().resolve() for root in roots))

    def check_request(self, request: RunRequest) -> None:
        """InputError unless the request's workdir and tasks file lie under the roots."""
        if request.workdir is not None:
            self.check(request.workdir)
        if request.tasks_file is not None:
            base = Path(request.workdir) if request.workdir else Path.cwd()
            path = (base / request.tasks_file).resolve()
            if not self._allows(path):
                raise InputError(
                    f"tasks_file {request.tasks_file!r} is not under the directories this daemon allows "
                    f"({self._listed()}); {_HOW}"
                )

    def check_spec(self, spec: RunSpec, request: RunRequest) -> None:
        """InputError unless the planned run's workdir, and every task's, lie under the roots.

        A run that names no workdir works in the daemon's own directory (planning fills it in):
        that one was chosen by whoever started the daemon, not by the caller, so it is not checked.
        """
        own = Path.cwd().resolve()
        run_dir = Path(spec.workdir) if spec.workdir else own
        named = request.workdir is not None or request.planned is not None
        if spec.workdir is not None and (named or run_dir.resolve() != own):
            self.check(spec.workdir)
        for number, task in enumerate(spec.tasks, 1):
            if task.options.workdir is not None:  # relative to the run's, as the attempt reads it
                name = repr(task.id) if task.id else str(number)  # ids are given on submission
                self.check(str(run_dir / task.options.workdir), f"task {name}: workdir")

    def check(self, workdir: str, what: str = "workdir") -> None:
        """InputError unless `workdir` is absolute, an existing directory, and under a root."""
        path = Path(workdir)
        if not path.is_absolute():
            raise InputError(f"{what} {workdir!r} is not an absolute path; give the full path")
        resolved = path.resolve()
        if not resolved.is_dir():
            raise InputError(f"{what} {workdir!r} does not exist or is not a directory")
        if not self._allows(resolved):
            raise InputError(
                f"{what} {workdir!r} is not under the directories this daemon allows ({self._listed()}); {_HOW}"
            )

    def _allows(self, resolved: Path) -> bool:
        return any(resolved == root or root in resolved.parents for root in self.roots)

    def _listed(self) -> str:
        return ", ".join(str(root) for root in self.roots) or "none"


_HOW = (
    f"to allow others, start the daemon with {WORKDIR_ROOTS_ENV} listing them (separated by {os.pathsep!r})"
)
