"""The settings every engine that runs an assistant's CLI shares; each engine adds its own fields."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from parallelai.engines._pricing import ModelPrice


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
