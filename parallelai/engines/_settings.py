"""Engine options: one engine's settings, overridden per task by `engine_options`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from parallelai.engines.base import EngineRequest

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
