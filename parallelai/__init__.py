"""parallelai: turn any AI coding assistant into a parallel workforce.

The public API is what `__all__` names; everything else may change between releases.

Names are imported on first use (PEP 562): `import parallelai` alone stays cheap, because every
`parallelai` command — and the stdio servers an assistant starts and expects an answer from
within a second — imports this package first.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from parallelai._version import __version__

if TYPE_CHECKING:
    from parallelai.api import ParallelOrchestrator, Results, orchestrate
    from parallelai.engines.base import Engine, EngineRequest, EngineStatus
    from parallelai.engines.registry import EngineRegistry
    from parallelai.errors import (
        DependencyCycleError,
        InputError,
        NoEngineError,
        ParallelAIError,
        RunNotFoundError,
        StoreError,
        TasksFileError,
        UnknownEngineError,
    )
    from parallelai.events import Event
    from parallelai.facade import ParallelAI
    from parallelai.models import (
        Attempt,
        EngineSpec,
        ErrorKind,
        RunLimits,
        RunSpec,
        RunState,
        RunSummary,
        Task,
        TaskError,
        TaskOptions,
        TaskRecord,
        TaskResult,
        TaskState,
        Usage,
    )
    from parallelai.orchestration.service import OrchestrationService
    from parallelai.reports.results import RunFailedError

# Where the names above live; the first access to any of them imports these until it is found.
_HOMES = (
    "parallelai.api",
    "parallelai.facade",
    "parallelai.models",
    "parallelai.errors",
    "parallelai.events",
    "parallelai.engines.base",
    "parallelai.engines.registry",
    "parallelai.orchestration.service",
    "parallelai.reports.results",
)

__all__ = [
    "Attempt",
    "DependencyCycleError",
    "Engine",
    "EngineRegistry",
    "EngineRequest",
    "EngineSpec",
    "EngineStatus",
    "ErrorKind",
    "Event",
    "InputError",
    "NoEngineError",
    "OrchestrationService",
    "ParallelAI",
    "ParallelAIError",
    "ParallelOrchestrator",
    "Results",
    "RunFailedError",
    "RunLimits",
    "RunNotFoundError",
    "RunSpec",
    "RunState",
    "RunSummary",
    "StoreError",
    "Task",
    "TaskError",
    "TaskOptions",
    "TaskRecord",
    "TaskResult",
    "TaskState",
    "TasksFileError",
    "UnknownEngineError",
    "Usage",
    "__version__",
    "orchestrate",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for home in _HOMES:
            module = import_module(home)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value  # later lookups skip this function
                return value
    raise AttributeError(f"module 'parallelai' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
