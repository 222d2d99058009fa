"""The reliability tier's tally: what its tests tried, counted across the session, and the block
that reports it at the end of the pytest run.

The tally is a report, not the gate: each test asserts its own zeros (nothing lost, nothing
leaked, no server error); the counts say how much ground those assertions covered.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest


@dataclass
class Tally:
    kills_survived: int = 0  # daemon SIGKILLs a run came back from
    tasks_checked: int = 0  # tasks whose outcome (once, and only once) a tier test checked
    bad_inputs_tried: int = 0  # rows of the bad-input table sent to a surface
    probes_refused: int = 0  # security probes the daemon refused as it should
    api_cases: int = 0  # requests schemathesis generated against the live daemon's OpenAPI
    lost: int = 0  # tasks missing or not succeeded at the end of a run that should have
    leaked: int = 0  # secrets seen where they must not be, or processes outliving their run
    server_errors: int = 0  # HTTP 5xx answers to anything the tier sent

    @property
    def used(self) -> bool:
        return any(getattr(self, field.name) for field in fields(self))

    def summary(self) -> str:
        counts = (
            f"{self.kills_survived} kills survived, {self.tasks_checked} tasks checked, "
            f"{self.bad_inputs_tried} bad inputs tried, {self.probes_refused} probes refused, "
            f"{self.api_cases} generated API cases"
        )
        zeros = f"{self.lost} lost, {self.leaked} leaked, {self.server_errors} server errors"
        return f"reliability tier: {counts} — {zeros}"


_KEY = pytest.StashKey[Tally]()


def tally_of(config: pytest.Config) -> Tally:
    """The session's one tally, made on first use."""
    if _KEY not in config.stash:
        config.stash[_KEY] = Tally()
    return config.stash[_KEY]


def report(terminal: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The tier's block at the end of the run, when any of its tests ran."""
    tally = tally_of(config)
    if tally.used:
        terminal.write_sep("=", "reliability tier")
        terminal.write_line(tally.summary())
