"""Engine options: one engine's settings, overridden per task by `engine_options`, and the CLI engines' shared fields."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from parallelai.engines._pricing import ModelPrice
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


class CliSettings(BaseModel):
    """What every engine that runs an assistant's CLI can be told; each engine adds its own fields."""

    model_config = ConfigDict(extra="forbid")

    binary: str
    model: str | None = None  # the engine spec's model (`engine:model`) wins over this
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: list[str] = Field(default_factory=list)
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    kill_grace_s: Annotated[float, Field(ge=0)] = 2.0


class HomeCliSettings(CliSettings):
    """A CLI that gets a private home per attempt, copied from the user's, and reports tokens we price."""

    prices: dict[str, ModelPrice] = Field(default_factory=dict)  # the CLI reports tokens, not cost
    home_root: str | None = None  # per-attempt homes live here; default: the state dir
    inherit_home_from: str | None = None  # copy login and settings from here; "" = nothing
    keep_home: bool = False  # keep the attempt's home (sessions, logs) for inspection

    def inherit_dir(self, home_env: str | None, default: Path) -> Path | None:
        """Where the user's login and settings are copied from: the setting, else $`home_env`, else `default`."""
        if self.inherit_home_from == "":
            return None
        if self.inherit_home_from is not None:
            return Path(self.inherit_home_from).expanduser()
        return Path((os.environ.get(home_env) if home_env else None) or default)
