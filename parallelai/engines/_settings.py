"""Engine options: one engine's settings, overridden per task by `engine_options`; the pacing settings
the HTTP API engines share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from parallelai.engines.base import EngineRequest
from parallelai.ratelimits.limits import KnownLimits

S = TypeVar("S", bound=BaseModel)


class SettingsSource(Generic[S]):
    """The engine's settings, validated once, and a task's own (`engine_options` over them) on demand."""

    def __init__(self, model: type[S], settings: Mapping[str, Any]) -> None:
        self._model = model
        self._base = dict(settings)
        self.default = model.model_validate(self._base)

    def for_request(self, request: EngineRequest) -> S:
        """The settings for one task; raises `ValidationError` on options the model does not accept."""
        if not request.options.engine_options:
            return self.default
        return self._model.model_validate({**self._base, **request.options.engine_options})


class PacingSettings(BaseModel):
    """The settings every HTTP API engine shares for pacing its requests (docs/rate-limits.md)."""

    # Off: every request goes at once, as many as the run's parallelism allows (a fixed pool).
    rate_gate: bool = True
    # The account's limits, before (and where) its responses' headers say nothing: a tier's
    # published limits, or a gateway's. Headers the provider sends win over them.
    rate_limits: KnownLimits = Field(default_factory=KnownLimits)
