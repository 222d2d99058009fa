"""The Ollama dialect: POST /api/chat streamed as NDJSON (or one JSON body), GET /api/tags and /api/version."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.support.model_server.script import Failure, ToolCall
from tests.support.model_server.server import Answer, ScriptedModelServer

VERSION = "0.12.6"
MODELS = ("llama3.2:latest", "qwen2.5-coder:7b")  # what /api/tags lists
CREATED_AT = "2026-01-01T00:00:00.000000Z"  # a fixed clock keeps recorded answers reproducible


class OllamaDialect:
    name = "ollama"

    def routes(self, server: ScriptedModelServer) -> Sequence[BaseRoute]:
        async def chat(request: Request) -> Response:
            recorded, turn = await server.take(request)
            body = recorded.json if isinstance(recorded.json, dict) else {}
            rendering = OllamaRendering(model=str(body.get("model", "llama3.2")))
            # Ollama streams unless told not to: the default is the opposite of OpenAI's.
            return await server.respond(turn, rendering, stream=body.get("stream", True) is not False)

        async def tags(request: Request) -> Response:
            listed = [_model_entry(name) for name in MODELS]
            return JSONResponse({"models": listed})

        async def version(request: Request) -> Response:
            return JSONResponse({"version": VERSION})

        return [
            Route("/api/chat", chat, methods=["POST"]),
            Route("/api/tags", tags, methods=["GET"]),
            Route("/api/version", version, methods=["GET"]),
        ]


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": CREATED_AT,
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "format": "gguf",
            "family": "llama",
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


@dataclass(frozen=True, slots=True)
class OllamaRendering:
    model: str
    media_type: str = "application/x-ndjson"

    def chunks(self, answer: Answer) -> Iterable[bytes]:
        return (json.dumps(line).encode() + b"\n" for line in self._lines(answer))

    def body(self, answer: Answer) -> Any:
        return {**self._line(_message(answer, complete=True)), **self._final(answer)}

    def error(self, failure: Failure) -> Any:
        return {"error": failure.message}

    def _line(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.model, "created_at": CREATED_AT, "message": message, "done": False}

    def _final(self, answer: Answer) -> dict[str, Any]:
        return {
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": answer.input_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": answer.output_tokens,
            "eval_duration": 2_000_000,
        }

    def _lines(self, answer: Answer) -> Iterator[dict[str, Any]]:
        if isinstance(answer, ToolCall):
            yield self._line(_message(answer, complete=True))
        else:
            for piece in _pieces(answer.text, 3):
                yield self._line({"role": "assistant", "content": piece})
        yield {**self._line({"role": "assistant", "content": ""}), **self._final(answer)}


def _message(answer: Answer, *, complete: bool) -> dict[str, Any]:
    if isinstance(answer, ToolCall):
        call = {"function": {"name": answer.name, "arguments": answer.arguments}}
        return {"role": "assistant", "content": "", "tool_calls": [call]}
    return {"role": "assistant", "content": answer.text if complete else ""}


def _pieces(text: str, count: int) -> list[str]:
    if not text:
        return []
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]
