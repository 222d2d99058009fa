"""parallelai: turn any AI coding assistant into a parallel workforce.

The public API is what `__all__` names; everything else may change between releases.
"""

from parallelai._version import __version__
from parallelai.api import ParallelOrchestrator, Results, orchestrate
from parallelai.engines.base import Engine, EngineRequest, EngineStatus
from parallelai.engines.registry import EngineRegistry
from parallelai.errors import (
    DependencyCycleError,
    InputError,
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
    "OrchestrationService",
    "ParallelAI",
    "ParallelAIError",
    "ParallelOrchestrator",
    "Results",
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
