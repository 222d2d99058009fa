"""The engine registry: names to factories, fed by the `parallelai.engines` entry-point group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, cast

from parallelai.engines.base import Engine, EngineFactory
from parallelai.errors import UnknownEngineError

ENTRY_POINT_GROUP = "parallelai.engines"


class EngineRegistry:
    """Built-in engines are found the same way as third-party ones: through entry points."""

    def __init__(self, factories: Mapping[str, EngineFactory] | None = None) -> None:
        self._factories: dict[str, EngineFactory] = dict(factories or {})

    @classmethod
    def from_entry_points(cls) -> EngineRegistry:
        registry = cls()
        for point in entry_points(group=ENTRY_POINT_GROUP):
            # Loading is lazy per name, so one broken plugin cannot stop the others from listing.
            registry.register_lazy(point.name, point.value)
        return registry

    def register(self, name: str, factory: EngineFactory) -> None:
        self._factories[name] = factory

    def register_lazy(self, name: str, target: str) -> None:
        self._factories[name] = _LazyFactory(target)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def require(self, names: Iterable[str]) -> None:
        """Raise `UnknownEngineError` for the first name nobody registered."""
        for name in names:
            if name not in self._factories:
                raise UnknownEngineError(name, self.names())

    def create(self, name: str, settings: Mapping[str, Any] | None = None) -> Engine:
        self.require([name])
        return self._factories[name](settings or {})


class _LazyFactory:
    def __init__(self, target: str) -> None:
        self._target = target
        self._loaded: EngineFactory | None = None

    def __call__(self, settings: Mapping[str, Any]) -> Engine:
        if self._loaded is None:
            module_name, _, attribute = self._target.partition(":")
            module = import_module(module_name)
            self._loaded = cast(EngineFactory, getattr(module, attribute))
        return self._loaded(settings)


_default: EngineRegistry | None = None


def default_registry() -> EngineRegistry:
    """The process-wide registry of installed engines (entry points are read once)."""
    global _default
    if _default is None:
        _default = EngineRegistry.from_entry_points()
    return _default
