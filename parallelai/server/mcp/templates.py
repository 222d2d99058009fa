"""The seam between the MCP tools and the template library: a small catalog protocol.

The MCP surface needs only to list templates, describe one, and turn one plus its params into a
RunSpec. `LibraryCatalog` (library.py) implements it over `parallelai.templates`; tests and
embedders can pass any other, e.g. `EmptyCatalog`.
"""

from __future__ import annotations

from typing import Any, Protocol

from parallelai.errors import InputError
from parallelai.models import RunSpec
from parallelai.server.mcp.schemas import TemplateDetail, TemplateInfo
from parallelai.tasksfile import RunOptions


class UnknownTemplateError(InputError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = tuple(known)
        choices = ", ".join(known) if known else "none are installed"
        super().__init__(f"unknown template {name!r}; available templates: {choices}")


class TemplateCatalog(Protocol):
    def templates(self) -> list[TemplateInfo]: ...

    def describe(self, name: str) -> TemplateDetail:
        """Raises UnknownTemplateError."""
        ...

    def plan(self, name: str, params: dict[str, Any], options: RunOptions) -> RunSpec:
        """Render the template into a run. Raises UnknownTemplateError or InputError (bad params)."""
        ...


class EmptyCatalog:
    """No templates at all."""

    def templates(self) -> list[TemplateInfo]:
        return []

    def describe(self, name: str) -> TemplateDetail:
        raise UnknownTemplateError(name, [])

    def plan(self, name: str, params: dict[str, Any], options: RunOptions) -> RunSpec:
        raise UnknownTemplateError(name, [])
