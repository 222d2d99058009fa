"""The engine registry: names to factories, fed by the `parallelai.engines` entry-point group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, cast

from pydantic import BaseModel

from parallelai.engines.base import Engine, EngineFactory
from parallelai.errors import UnknownEngineError
from parallelai.processes import make_non_dumpable

ENTRY_POINT_GROUP = "parallelai.engines"

# Other words for our engines, as the announcement and other tools write them. Besides these,
# any name is also understood in lower case with `_` for `-` (`claude_code`, `gemini_cli`).
ALIASES: Mapping[str, str] = {
    "chatgpt": "openai",
    "github-copilot": "copilot",
    "gemini": "gemini-cli",
}


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

    def aliases(self) -> dict[str, str]:
        """Alias → registered name, for the aliases whose engine is installed here."""
        return {alias: name for alias, name in ALIASES.items() if name in self._factories}

    def resolve(self, name: str) -> str | None:
        """The registered name `name` means (itself, its `-` spelling, or an alias's), else None."""
        if name in self._factories:
            return name
        spelled = name.strip().lower().replace("_", "-")
        if spelled in self._factories:
            return spelled
        return self.aliases().get(spelled)

    def canonical(self, name: str) -> str:
        """The registered name `name` means; every surface names engines through this, so an
        alias never makes a second name for one engine (in the store, a cache key, a limit).
        Raises `UnknownEngineError`, with the closest name, for a name that means none."""
        resolved = self.resolve(name)
        if resolved is None:
            raise UnknownEngineError(name, self.names(), self.aliases())
        return resolved

    def require(self, names: Iterable[str]) -> None:
        """Raise `UnknownEngineError` for the first name that means no registered engine."""
        for name in names:
            self.canonical(name)

    def create(self, name: str, settings: Mapping[str, Any] | None = None) -> Engine:
        # Every process that runs agents (the daemon, an embedded CLI run, the LSP and MCP
        # servers, a Python caller) gets its engines here, before any agent starts.
        make_non_dumpable()
        return self._factories[self.canonical(name)](settings or {})

    def settings_model(self, name: str) -> type[BaseModel] | None:
        """The pydantic model of engine `name`'s settings, if its factory declares one
        (`settings_model`, as every built-in does); loads the engine's module."""
        factory = self._factories[self.canonical(name)]
        target = factory.load() if isinstance(factory, _LazyFactory) else factory
        model = getattr(target, "settings_model", None)
        return model if isinstance(model, type) and issubclass(model, BaseModel) else None


class _LazyFactory:
    def __init__(self, target: str) -> None:
        self._target = target
        self._loaded: EngineFactory | None = None

    def __call__(self, settings: Mapping[str, Any]) -> Engine:
        return self.load()(settings)

    def load(self) -> EngineFactory:
        if self._loaded is None:
            module_name, _, attribute = self._target.partition(":")
            module = import_module(module_name)
            self._loaded = cast(EngineFactory, getattr(module, attribute))
        return self._loaded


_default: EngineRegistry | None = None


def default_registry() -> EngineRegistry:
    """The process-wide registry of installed engines (entry points are read once)."""
    global _default
    if _default is None:
        _default = EngineRegistry.from_entry_points()
    return _default
