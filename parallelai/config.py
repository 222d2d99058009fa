"""Defaults for runs from config files and PARALLELAI_* variables: the `[run]`, `[report]` and
`[ray]` tables.

A value is taken from the first place that gives it:

1. a flag or argument (`--engine`, `ParallelAI(engine=…)`, an HTTP field);
2. the work itself: a tasks file's `engine`, `parallel`, `limits`, `defaults`; a template group's;
3. a PARALLELAI_* variable (`PARALLELAI_ENGINE`, `PARALLELAI_PARALLEL`, … one per `[run]` key);
4. the project's `.parallelai/config.toml`, in the workdir (where the project's templates are too);
5. the user's config file: `$PARALLELAI_CONFIG`, else `config.toml` in the state dir
   (`$PARALLELAI_STATE_DIR`, default `~/.local/state/parallelai`), where `[notify]` is read too;
6. the built-in default; for the engine, the first real assistant ready here (engines/choice.py).

An unknown table or key, a value of the wrong type, an unknown engine: ConfigError, naming the file
(or variable), the table and the key. docs/config.md describes every key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parallelai.errors import ConfigError, UnknownEngineError
from parallelai.models import BackendName, EngineSpec, RayOptions
from parallelai.paths import PROJECT_CONFIG, user_config_path
from parallelai.reports.render import ReportFormat
from parallelai.run_request import RunSettings

ENV_PREFIX = "PARALLELAI_"


class RunTable(BaseModel):
    """`[run]`: defaults of every run's settings, named as docs/names.md names them."""

    model_config = ConfigDict(extra="forbid")

    engine: str | None = None
    parallel: Annotated[int, Field(gt=0)] | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Annotated[int, Field(ge=0)] | None = None
    max_cost_usd: Annotated[float, Field(gt=0)] | None = None
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    max_tasks: Annotated[int, Field(gt=0)] | None = None
    fail_fast: bool | None = None
    use_cache: bool | None = None
    backoff_base_s: Annotated[float, Field(ge=0)] | None = None
    backoff_cap_s: Annotated[float, Field(ge=0)] | None = None
    max_retry_after_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    deadline_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    fallbacks: list[str] | None = None  # PARALLELAI_FALLBACKS: names separated by commas
    isolation: bool | None = None  # unset: on for the verbs whose agents edit files, in git
    backend: BackendName | None = None  # where attempts execute: local, or ray (docs/ray.md)


class ReportTable(BaseModel):
    """`[report]`: where the template verbs write their report, and in which format."""

    model_config = ConfigDict(extra="forbid")

    format: ReportFormat | None = Field(
        default=None, description="the format when --format is not given and the file's suffix says none"
    )
    path: str | None = Field(
        default=None, description="write every verb's report here (relative to the workdir) unless --report"
    )


class RayTable(RayOptions):
    """`[ray]`: the cluster the ray backend connects to, and the resources each engine needs there."""


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: RunTable = Field(default_factory=RunTable)
    report: ReportTable = Field(default_factory=ReportTable)
    ray: RayTable = Field(default_factory=RayTable)
    notify: dict[str, Any] | None = None  # the daemon's notifications, checked by monitor/notify_config.py


@dataclass(frozen=True)
class Defaults:
    """What the environment and config files say, merged: `run` under a request, `report` for the verbs."""

    run: RunSettings = field(default_factory=RunSettings)
    report: ReportTable = field(default_factory=ReportTable)


def load_defaults(workdir: Path | None = None) -> Defaults:
    """The defaults for work in `workdir` (default: the current directory)."""
    layers = [
        read_config(user_config_path()),
        read_config((workdir or Path.cwd()) / PROJECT_CONFIG),
        ConfigFile(run=environment_defaults()),
    ]
    run: dict[str, Any] = {}
    report: dict[str, Any] = {}
    ray: dict[str, Any] = {}
    for layer in layers:  # lowest first: each layer's values win over those before it
        given = layer.run.model_dump(exclude_none=True)
        if "engine" in given:
            run.pop("fallbacks", None)  # fallbacks back the engine named beside them
        run.update(given)
        report.update(layer.report.model_dump(exclude_none=True))
        ray.update(layer.ray.model_dump(exclude_unset=True))
    if run.get("backend") == "ray" and ray:
        run["backend"] = {"ray": ray}  # `[ray]` says where the cluster is; only a ray run needs it
    return Defaults(RunSettings.model_validate(run), ReportTable.model_validate(report))


def read_config(path: Path) -> ConfigFile:
    """One config file; an empty one if it does not exist."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        return ConfigFile()
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(str(path), f"cannot be read: {error.strerror}") from None
    try:
        # Strict: a TOML file has types, so "8" where a number belongs is a mistake worth telling.
        config = ConfigFile.model_validate(data, strict=True)
    except ValidationError as error:
        raise ConfigError(str(path), _first_problem(error)) from None
    _check_engine(config.run.engine, f"{path}: [run] engine")
    for fallback in config.run.fallbacks or []:
        _check_engine(fallback, f"{path}: [run] fallbacks")
    return config


def environment_defaults() -> RunTable:
    """`[run]` as PARALLELAI_* variables give it: PARALLELAI_ENGINE, PARALLELAI_PARALLEL, …"""
    given: dict[str, Any] = {
        key: value for key in RunTable.model_fields if (value := os.environ.get(env_name(key), "").strip())
    }
    if "fallbacks" in given:
        given["fallbacks"] = [name.strip() for name in given["fallbacks"].split(",") if name.strip()]
    try:
        table = RunTable.model_validate(given)
    except ValidationError as error:
        problem = error.errors()[0]
        key = str(problem["loc"][0])
        raise ConfigError(
            f"${env_name(key)}", f"{problem['msg']}, got {given[key]!r}; fix or unset the variable"
        ) from None
    _check_engine(table.engine, f"${env_name('engine')}")
    for fallback in table.fallbacks or []:
        _check_engine(fallback, f"${env_name('fallbacks')}")
    return table


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def _check_engine(engine: str | None, where: str) -> None:
    """An engine a config names must exist: caught here, the error can say where it was named."""
    if engine is None:
        return
    from parallelai.engines.registry import default_registry  # loads entry points: only when needed

    registry = default_registry()
    try:
        registry.require([EngineSpec.parse(engine).name])
    except UnknownEngineError as error:
        raise ConfigError(where, str(error)) from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    loc = [str(part) for part in problem["loc"]]
    where = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{loc[0]}]" if loc else ""
    if problem["type"] == "extra_forbidden":
        if len(loc) > 1:
            known = ", ".join(ConfigFile.model_fields[loc[0]].annotation.model_fields)  # type: ignore[union-attr]
            return f"{where}: unknown key; the keys of [{loc[0]}] are: {known}"
        return f"[{loc[0]}]: unknown table; the tables are: {', '.join(ConfigFile.model_fields)}"
    return f"{where}: {problem['msg']}" if where else str(problem["msg"])
