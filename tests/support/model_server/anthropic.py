"""The Anthropic Messages dialect: POST /v1/messages, streamed as SSE or answered as one JSON body."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.support.model_server.script import Failure, Reply, ToolCall
from tests.support.model_server.server import Answer, ScriptedModelServer

# The error `type` the real API sends with each status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class AnthropicDialect:
    name = "anthropic"

    def routes(self, server: ScriptedModelServer) -> Sequence[BaseRoute]:
        async def messages(request: Request) -> Response:
            recorded, turn = await server.take(request)
            body = recorded.json if isinstance(recorded.json, dict) else {}
            rendering = AnthropicRendering(
                model=str(body.get("model", "claude-scripted")), serial=len(server.requests)
            )
            return await server.respond(turn, rendering, stream=bool(body.get("stream", False)))

        async def count_tokens(request: Request) -> Response:
            # Not a model turn: clients call it to size prompts, so it must not consume the script.
            raw = await request.body()
            return JSONResponse({"input_tokens": max(1, len(raw) // 4)})

        return [
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        ]


@dataclass(frozen=True, slots=True)
class AnthropicRendering:
    model: str
    serial: int  # makes message ids unique per request, as clients may key on them
    media_type: str = "text/event-stream"

    def chunks(self, answer: Answer) -> Iterable[bytes]:
        return (_sse(event) for event in self._events(answer))

    def body(self, answer: Answer) -> Any:
        return {
            **self._message(answer),
            "content": [_block(answer, complete=True)],
            "stop_reason": _stop_reason(answer),
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
        }

    def error(self, failure: Failure) -> Any:
        kind = failure.error_type or ERROR_TYPES.get(failure.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": failure.message}}

    def _message(self, answer: Answer) -> dict[str, Any]:
        return {
            "id": f"msg_scripted_{self.serial}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1},
        }

    def _events(self, answer: Answer) -> Iterator[dict[str, Any]]:
        yield {"type": "message_start", "message": self._message(answer)}
        yield {"type": "content_block_start", "index": 0, "content_block": _block(answer, complete=False)}
        yield {"type": "ping"}
        for delta in _deltas(answer):
            yield {"type": "content_block_delta", "index": 0, "delta": delta}
        yield {"type": "content_block_stop", "index": 0}
        yield {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": None},
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
        }
        yield {"type": "message_stop"}


def _block(answer: Answer, *, complete: bool) -> dict[str, Any]:
    if isinstance(answer, Reply):
        return {"type": "text", "text": answer.text if complete else ""}
    arguments = answer.arguments if complete else {}
    return {"type": "tool_use", "id": answer.call_id, "name": answer.name, "input": arguments}


def _deltas(answer: Answer) -> Iterator[dict[str, Any]]:
    if isinstance(answer, ToolCall):
        encoded = json.dumps(answer.arguments)
        for piece in _pieces(encoded, 3):
            yield {"type": "input_json_delta", "partial_json": piece}
        return
    for piece in _pieces(answer.text, 3):
        yield {"type": "text_delta", "text": piece}


def _pieces(text: str, count: int) -> list[str]:
    """Split `text` into up to `count` parts, so a stream always has several deltas to pace."""
    if not text:
        return []
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _stop_reason(answer: Answer) -> str:
    return "tool_use" if isinstance(answer, ToolCall) else "end_turn"


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
