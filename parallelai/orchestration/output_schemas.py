"""Output schemas enforced: an engine wrapper that validates answers and re-asks once.

A task with `options.output_schema` must answer JSON that validates against it. The wrapper takes
the engine's structured output when it has one (claude-code and openai can be asked for it), else
parses the answer text — bare JSON, or the first ```json fence. An invalid answer is re-asked
once with the validation error and the schema appended; a second invalid answer fails the task
with `ErrorKind.EXECUTION` and the validation error. Tasks without a schema pass straight through.

It is a wrapper rather than a feature of each engine so every engine, built-in or plugin, gets
the same rule. The service wraps its registry with `enforcing_output_schemas` when it opens, so
every way into a run — `parallelai run`, the daemon, MCP, the Python API — enforces the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import jsonschema
from jsonschema.validators import validator_for
from pydantic import BaseModel

from parallelai.engines.base import (
    Emit,
    Engine,
    EngineRequest,
    EngineStatus,
    answer_source,
    edits_files,
    rate_account,
)
from parallelai.engines.registry import EngineRegistry
from parallelai.models import ErrorKind, TaskError, TaskResult

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n\s*```", re.DOTALL)
_REASK = """

---
Your previous answer could not be used: {problem}

Answer again with only a JSON value (no prose, no code fence) that validates against this JSON Schema:
{schema}
"""

if TYPE_CHECKING:
    from parallelai.ratelimits.account import Account


class ValidatingEngine:
    def __init__(self, inner: Engine) -> None:
        self.name = inner.name
        self.edits_files = edits_files(inner)  # the wrapper must not hide whether it only answers
        self._inner = inner

    @property
    def inner(self) -> Engine:
        """The engine checked (a backend that runs it elsewhere makes it there again)."""
        return self._inner

    def around(self, inner: Engine) -> ValidatingEngine:
        """The same checks around another engine (engines.base.rewrapped)."""
        return ValidatingEngine(inner)

    def rate_account(self, request: EngineRequest) -> Account | None:
        return rate_account(self._inner, request)  # nor whose account its agent's requests go to

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        schema = request.options.output_schema
        first = await self._inner.run(request, emit)
        if schema is None or not first.ok:
            return first
        value, problem = check_answer(first, schema)
        if problem is None:
            return first.model_copy(update={"structured": value})
        again = replace(
            request,
            prompt=request.prompt + _REASK.format(problem=problem, schema=json.dumps(schema, indent=2)),
        )
        second = await self._inner.run(again, emit)
        usage = first.usage + second.usage
        duration = first.duration_s + second.duration_s
        if not second.ok:
            return second.model_copy(update={"usage": usage, "duration_s": duration})
        value, problem = check_answer(second, schema)
        if problem is None:
            return second.model_copy(update={"structured": value, "usage": usage, "duration_s": duration})
        return second.model_copy(
            update={
                "usage": usage,
                "duration_s": duration,
                "error": TaskError(
                    kind=ErrorKind.EXECUTION,
                    message=f"the answer does not match the output schema, even when asked again: {problem}",
                ),
            }
        )

    async def status(self) -> EngineStatus:
        return await self._inner.status()

    async def source(self, model: str | None) -> Mapping[str, str]:
        return await answer_source(self._inner, model)

    async def aclose(self) -> None:
        await self._inner.aclose()


def check_answer(result: TaskResult, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The answer's JSON value and, if it is unusable, why (one line)."""
    if result.structured is not None:
        value = result.structured
    else:
        try:
            value = parse_json_answer(result.text)
        except ValueError as error:
            return None, str(error)
    validator = validator_for(schema)(schema)
    problem = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if problem is None:
        return value, None
    path = "/".join(map(str, problem.absolute_path)) or "(root)"
    return value, f"at {path}: {problem.message}"


def parse_json_answer(text: str) -> Any:
    """JSON from an answer: the whole text, else the first ```json fence in it."""
    stripped = text.strip()
    candidates = [stripped, *(match.group(1) for match in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise ValueError("the answer is not JSON (nor does it contain a ```json block)")


class _Wrapped:
    def __init__(self, base: EngineRegistry, name: str) -> None:
        self._base = base
        self._name = name

    @property
    def settings_model(self) -> type[BaseModel] | None:
        """The wrapped engine's settings model: planning checks a task's `engine_options` with it."""
        return self._base.settings_model(self._name)

    def __call__(self, settings: Mapping[str, Any]) -> Engine:
        engine = self._base.create(self._name, settings)
        # Wrapping twice would re-ask twice: a registry that already enforces is taken as it is.
        return engine if isinstance(engine, ValidatingEngine) else ValidatingEngine(engine)


def enforcing_output_schemas(base: EngineRegistry) -> EngineRegistry:
    """The same engines as `base`, each enforcing its tasks' output schemas."""
    return EngineRegistry({name: _Wrapped(base, name) for name in base.names()})
