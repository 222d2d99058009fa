"""Simulated runs: which engines make their answers up, and the words every surface uses to say so.

The echo engine answers from the prompt or a template's `example_output` without running any
assistant. Its answers look like real ones — a review "finds" an issue in every file — so every
report and summary of a run that used it says "simulated" before anything else.
"""

from __future__ import annotations

from collections.abc import Iterable

from parallelai.models import EngineSpec, RunSpec, TaskRecord

# Engines whose answers no assistant wrote.
SIMULATED_ENGINES = frozenset({"echo"})

SIMULATED_NOTICE = (
    "SIMULATED: the echo engine made these answers up; no assistant read your files, so nothing "
    "here is a finding about them. Run with a real engine (e.g. --engine claude-code) for real answers."
)


# What the summary line of a simulated run starts with, so that no count in it reads as real work.
SIMULATED_MARK = "[SIMULATED] "


def engine_of(record: TaskRecord, default_engine: str) -> str:
    """The engine name a task ran on: its own, else the run's default (`name[:model]` → name)."""
    return EngineSpec.parse(record.task.engine or default_engine).name


def simulated_task_ids(records: Iterable[TaskRecord], default_engine: str) -> list[str]:
    """The tasks of a run whose answers a simulated engine made."""
    return [record.task.id for record in records if engine_of(record, default_engine) in SIMULATED_ENGINES]


def spec_is_simulated(spec: RunSpec) -> bool:
    """Whether any task of a planned run runs on a simulated engine."""
    return any(
        EngineSpec.parse(task.engine or spec.default_engine).name in SIMULATED_ENGINES for task in spec.tasks
    )
