"""The one exception tree of parallelai; every error a user can see is drawn here.

    ParallelAIError
    ├── InputError                 bad input from the user: exit code 2, nothing is started
    │   ├── TasksFileError         a tasks file that cannot be read (carries path and line)
    │   │   ├── TemplateError      a template that cannot be loaded, checked or rendered
    │   │   └── MatrixError        an input matrix that cannot be read or lacks a column
    │   ├── FileSelectionError     a glob escaping the workspace, or a fan-out above the cap
    │   ├── DependencyCycleError   depends_on edges that form a cycle (carries the task ids)
    │   ├── UnknownDependencyError depends_on naming a task that does not exist
    │   ├── UnknownEngineError     an engine name nobody registered (carries known names)
    │   ├── NoEngineError          no engine named, and no real one ready here (carries why each is not)
    │   ├── ConfigError            a config file or PARALLELAI_* variable that is wrong (carries where)
    │   └── UnknownStrategyError   a strategy name we do not implement
    ├── RunNotFoundError           a run id the store does not know
    ├── TaskNotFoundError          a task id the run does not have
    ├── RunBusyError               a run another live process is executing (carries who)
    ├── RunFailedError             a template run in which no task succeeded (reports/results.py: it carries the results)
    ├── StoreError                 the store cannot be opened or migrated
    └── WorkspaceError             a task's worktree or scratch copy that git cannot make, read or remove (carries the command and git's words)

A failed agent is never an exception: engines report failures as data (`TaskError`), so
nothing here escapes from an engine into the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from pathlib import Path


class ParallelAIError(Exception):
    """Base of every error parallelai raises on purpose."""


class InputError(ParallelAIError):
    """The user's input is wrong; the message says what and where."""

    exit_code = 2


class TasksFileError(InputError):
    def __init__(
        self, path: Path | str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        where = str(self.path)
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")


class TemplateError(TasksFileError):
    """A template problem, located in the template file when we know where."""


class FileSelectionError(InputError):
    """Files a task group selects: a glob escaping the root, or more matches than allowed."""


class MatrixError(TasksFileError):
    """An input matrix (Markdown table, CSV, JSON or YAML rows) that cannot be used."""


class DependencyCycleError(InputError):
    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join([*self.cycle, self.cycle[0]]))


class UnknownDependencyError(InputError):
    def __init__(self, task_id: str, missing: str, known: Sequence[str]) -> None:
        self.task_id = task_id
        self.missing = missing
        super().__init__(
            f"task {task_id!r} depends on {missing!r}, which is not a task in this run{did_you_mean(missing, known)}"
        )


class UnknownEngineError(InputError):
    def __init__(self, name: str, known: Sequence[str], aliases: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        # A typo of an alias ("chatgtp") is suggested as the engine the alias means.
        words = {**{engine: engine for engine in known}, **(aliases or {})}
        close = get_close_matches(name.lower().replace("_", "-"), list(words), n=1)
        suggestion = f" (did you mean {words[close[0]]!r}?)" if close else ""
        super().__init__(f"unknown engine {name!r}{suggestion}; known engines: {', '.join(self.known)}")


class NoEngineError(InputError):
    """No engine was named (flag, environment, config) and none of the real ones is ready here."""

    def __init__(self, not_ready: Sequence[tuple[str, str]]) -> None:
        self.not_ready = tuple(not_ready)
        why = "".join(f"\n  {name}: {detail}" for name, detail in self.not_ready)
        super().__init__(
            "no engine named, and none of the real ones is installed and signed in here:"
            f"{why}\nName one: `--engine NAME` (e.g. --engine claude-code), the PARALLELAI_ENGINE "
            'environment variable, or `engine = "NAME"` under [run] in .parallelai/config.toml; '
            "`parallelai engines` shows what can run here (`--engine echo` is a dry run with canned answers)"
        )


class ConfigError(InputError):
    """A config file, or a PARALLELAI_* variable, that parallelai cannot use; `where` says which."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")


class UnknownStrategyError(InputError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(
            f"unknown strategy {name!r}{did_you_mean(name, known)}; choose one of: {', '.join(known)}"
        )


class RunNotFoundError(ParallelAIError):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {run_id!r} in the store; `parallelai runs` lists the runs it has")


class TaskNotFoundError(ParallelAIError):
    def __init__(self, run_id: str, task_id: str) -> None:
        self.run_id = run_id
        self.task_id = task_id
        super().__init__(f"run {run_id!r} has no task {task_id!r}")


class RunBusyError(ParallelAIError):
    """Another live process executes the run; only it may start its tasks."""

    def __init__(self, run_id: str, executed_by: str) -> None:
        self.run_id = run_id
        self.executed_by = executed_by
        super().__init__(
            f"run {run_id!r} is being executed by {executed_by}; "
            f"`parallelai watch {run_id}` follows it, `parallelai cancel {run_id}` stops it"
        )


class StoreError(ParallelAIError):
    """The store cannot be opened, is from a newer version, or is corrupt."""


class WorkspaceError(ParallelAIError):
    """Git failed while making, reading or removing a task's workspace; `stderr` holds its words."""

    def __init__(self, message: str, *, command: Sequence[str] = (), stderr: str = "") -> None:
        self.command = tuple(command)
        self.stderr = stderr
        super().__init__(f"{message}: {stderr}" if stderr else message)


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """` (did you mean 'x'?)` when a known name is close to `name`, else nothing."""
    close = get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def sole_exception(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (task groups wrap what the body raised).

    Surfaces and context managers re-raise it so callers can `except InputError` as they expect.
    """
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
