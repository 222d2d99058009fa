"""Output schemas: a valid answer is kept as structured output; an invalid one is re-asked once, then failed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from parallelai.engines.base import Emit, EngineRequest, EngineStatus
from parallelai.models import ErrorKind, TaskError, TaskOptions, TaskResult, Usage
from parallelai.orchestration.output_schemas import ValidatingEngine

pytestmark = pytest.mark.anyio

SCHEMA: dict[str, Any] = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}


class ScriptedEngine:
    """Answers from a script, one per call, and remembers the prompts it was given."""

    name = "scripted"

    def __init__(self, answers: Sequence[str | TaskResult]) -> None:
        self._answers = list(answers)
        self.prompts: list[str] = []

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        self.prompts.append(request.prompt)
        answer = self._answers.pop(0)
        return (
            answer
            if isinstance(answer, TaskResult)
            else TaskResult(text=answer, usage=Usage(input_tokens=10))
        )

    async def status(self) -> EngineStatus:
        return EngineStatus(name=self.name, available=True)

    async def aclose(self) -> None:
        return None


def request(schema: dict[str, Any] | None = SCHEMA) -> EngineRequest:
    return EngineRequest(
        task_id="t",
        prompt="Answer.",
        model=None,
        options=TaskOptions(output_schema=schema),
        workdir=Path("."),
    )


async def run(engine: ScriptedEngine, schema: dict[str, Any] | None = SCHEMA) -> TaskResult:
    return await ValidatingEngine(engine).run(request(schema), lambda event: None)


async def test_a_valid_answer_becomes_the_structured_output() -> None:
    result = await run(ScriptedEngine(['{"ok": true}']))
    assert result.ok
    assert result.structured == {"ok": True}


async def test_json_inside_a_json_fence_is_accepted() -> None:
    result = await run(ScriptedEngine(['Here it is:\n```json\n{"ok": false}\n```\nDone.']))
    assert result.structured == {"ok": False}


async def test_an_invalid_answer_is_re_asked_once_with_the_validation_error() -> None:
    engine = ScriptedEngine(['{"ok": "yes"}', '{"ok": true}'])
    result = await run(engine)

    assert result.ok
    assert result.structured == {"ok": True}
    assert len(engine.prompts) == 2
    assert "at ok: 'yes' is not of type 'boolean'" in engine.prompts[1]
    assert '"required"' in engine.prompts[1]
    assert result.usage.input_tokens == 20


async def test_a_second_invalid_answer_fails_the_task_with_the_validation_error() -> None:
    engine = ScriptedEngine(["not json at all", '{"nope": 1}'])
    result = await run(engine)

    assert result.error is not None
    assert result.error.kind is ErrorKind.EXECUTION
    assert "even when asked again: at (root): 'ok' is a required property" in result.error.message
    assert len(engine.prompts) == 2


async def test_tasks_without_a_schema_and_failed_attempts_pass_through_untouched() -> None:
    assert (await run(ScriptedEngine(["free text"]), schema=None)).text == "free text"
    failure = TaskResult(error=TaskError(kind=ErrorKind.RATE_LIMITED, message="slow down"))
    engine = ScriptedEngine([failure])
    assert (await run(engine)).error == failure.error
    assert len(engine.prompts) == 1
