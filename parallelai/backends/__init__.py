"""Where a run's attempts execute: in this process (`local`, the default) or on runner actors of a
Ray cluster (`ray`, docs/ray.md).

A backend only changes where an engine's `run` executes: the coordinator (this process: the CLI's
run, or the daemon) keeps the store, the event bus, budgets, rate gates, retries and isolation for
every backend alike. So a backend is a wrapper around each of a run's engines, applied once the run's
engines are made (`on_backend`); the local backend leaves them as they are. Ray is imported only
when a run names the ray backend: the default install needs none of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parallelai.backends.local import LOCAL
from parallelai.engines.base import Engine
from parallelai.errors import InputError
from parallelai.models import Backend

RAY_EXTRA_HINT = 'pip install "parallelai[ray]"'


def on_backend(
    backend: Backend | None, engines: Mapping[str, Engine], settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, Engine]:
    """`engines` (made with `settings`, by engine name) as the run's backend executes them;
    InputError if the backend cannot be used here (Ray not installed, no cluster at the address)."""
    if backend is None or backend.name == LOCAL:
        return dict(engines)
    if backend.name == "ray":
        try:
            from parallelai.backends.ray_engine import on_ray_cluster
        except ImportError as error:
            if error.name is not None and error.name.split(".")[0] == "ray":
                raise InputError(f"the ray backend needs Ray installed here: {RAY_EXTRA_HINT}") from None
            raise
        return on_ray_cluster(backend, engines, settings)
    raise InputError(f"unknown backend {backend.name!r}: use local or ray")


__all__ = ["RAY_EXTRA_HINT", "on_backend"]
