"""The OpenAI dialect: Responses API and Chat Completions, streamed as SSE or answered as one JSON body."""

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

# The error `type` and `code` the real API sends with each status.
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "overloaded"),
}
CREATED_AT = 1_700_000_000  # a fixed clock keeps recorded answers reproducible


def rate_limited(retry_after_s: float = 1.0, message: str = "Rate limit reached for requests") -> Failure:
    """A 429 as OpenAI sends it: `retry-after` plus the `x-ratelimit-*` headers of an exhausted window."""
    seconds = f"{retry_after_s:g}"
    return Failure(
        429,
        message,
        headers={
            "retry-after": seconds,
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{seconds}s",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149000",
            "x-ratelimit-reset-tokens": "6ms",
        },
    )


class OpenAIDialect:
    name = "openai"

    def routes(self, server: ScriptedModelServer) -> Sequence[BaseRoute]:
        async def responses(request: Request) -> Response:
            recorded, turn = await server.take(request)
            body = recorded.json if isinstance(recorded.json, dict) else {}
            rendering = ResponsesRendering(
                model=str(body.get("model", "gpt-scripted")), serial=len(server.requests)
            )
            return await server.respond(turn, rendering, stream=bool(body.get("stream", False)))

        async def chat_completions(request: Request) -> Response:
            recorded, turn = await server.take(request)
            body = recorded.json if isinstance(recorded.json, dict) else {}
            options = body.get("stream_options")
            rendering = ChatRendering(
                model=str(body.get("model", "gpt-scripted")),
                serial=len(server.requests),
                include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            )
            return await server.respond(turn, rendering, stream=bool(body.get("stream", False)))

        async def models(request: Request) -> Response:
            # Not a model turn: clients list models at start-up, so it must not consume the script.
            listed = [{"id": name, "object": "model", "created": CREATED_AT, "owned_by": "scripted"}
                      for name in ("gpt-scripted", "gpt-4.1", "gpt-4.1-mini", "gpt-5")]  # fmt: skip
            return JSONResponse({"object": "list", "data": listed})

        # Both with and without /v1: clients differ in whether the base URL carries the version.
        return [
            route
            for prefix in ("/v1", "")
            for route in (
                Route(f"{prefix}/responses", responses, methods=["POST"]),
                Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]),
                Route(f"{prefix}/models", models, methods=["GET"]),
            )
        ]


def error_body(failure: Failure) -> dict[str, Any]:
    kind, code = ERROR_TYPES.get(
        failure.status, ("server_error" if failure.status >= 500 else "invalid_request_error", None)
    )
    return {
        "error": {"message": failure.message, "type": failure.error_type or kind, "param": None, "code": code}
    }


@dataclass(frozen=True, slots=True)
class ResponsesRendering:
    """POST /v1/responses: typed SSE events from `response.created` to `response.completed`."""

    model: str
    serial: int
    media_type: str = "text/event-stream"

    def chunks(self, answer: Answer) -> Iterable[bytes]:
        return (_sse(event, name=event["type"]) for event in self._numbered(answer))

    def body(self, answer: Answer) -> Any:
        return self._response(answer, complete=True)

    def error(self, failure: Failure) -> Any:
        return error_body(failure)

    def _response(self, answer: Answer, *, complete: bool) -> dict[str, Any]:
        usage = {
            "input_tokens": answer.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": answer.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.input_tokens + answer.output_tokens,
        }
        return {
            "id": f"resp_scripted_{self.serial}",
            "object": "response",
            "created_at": CREATED_AT,
            "status": "completed" if complete else "in_progress",
            "error": None,
            "incomplete_details": None,
            "model": self.model,
            "output": [self._item(answer, complete=True)] if complete else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage if complete else None,
        }

    def _item(self, answer: Answer, *, complete: bool) -> dict[str, Any]:
        status = "completed" if complete else "in_progress"
        if isinstance(answer, ToolCall):
            return {
                "id": f"fc_scripted_{self.serial}",
                "type": "function_call",
                "status": status,
                "call_id": answer.call_id,
                "name": answer.name,
                "arguments": json.dumps(answer.arguments) if complete else "",
            }
        content = [{"type": "output_text", "text": answer.text, "annotations": []}] if complete else []
        return {"id": f"msg_scripted_{self.serial}", "type": "message", "status": status, "role": "assistant",
                "content": content}  # fmt: skip

    def _numbered(self, answer: Answer) -> Iterator[dict[str, Any]]:
        for number, event in enumerate(self._events(answer)):
            yield {**event, "sequence_number": number}

    def _events(self, answer: Answer) -> Iterator[dict[str, Any]]:
        yield {"type": "response.created", "response": self._response(answer, complete=False)}
        yield {"type": "response.in_progress", "response": self._response(answer, complete=False)}
        item_id = self._item(answer, complete=False)["id"]
        yield {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": self._item(answer, complete=False),
        }
        where = {"item_id": item_id, "output_index": 0}
        if isinstance(answer, ToolCall):
            arguments = json.dumps(answer.arguments)
            for piece in _pieces(arguments, 3):
                yield {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            yield {"type": "response.function_call_arguments.done", **where, "arguments": arguments}
        else:
            part = {"type": "output_text", "text": "", "annotations": []}
            yield {"type": "response.content_part.added", **where, "content_index": 0, "part": part}
            for piece in _pieces(answer.text, 3):
                yield {
                    "type": "response.output_text.delta",
                    **where,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                }
            yield {
                "type": "response.output_text.done",
                **where,
                "content_index": 0,
                "text": answer.text,
                "logprobs": [],
            }
            yield {
                "type": "response.content_part.done",
                **where,
                "content_index": 0,
                "part": {**part, "text": answer.text},
            }
        yield {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": self._item(answer, complete=True),
        }
        yield {"type": "response.completed", "response": self._response(answer, complete=True)}


@dataclass(frozen=True, slots=True)
class ChatRendering:
    """POST /v1/chat/completions: `chat.completion.chunk` SSE data lines, then `[DONE]`."""

    model: str
    serial: int
    include_usage: bool  # the client asked for the final usage chunk (`stream_options.include_usage`)
    media_type: str = "text/event-stream"

    def chunks(self, answer: Answer) -> Iterable[bytes]:
        for chunk in self._chunks(answer):
            yield _sse(chunk)
        yield b"data: [DONE]\n\n"

    def body(self, answer: Answer) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(answer, ToolCall):
            message["tool_calls"] = [_tool_call(answer, json.dumps(answer.arguments))]
        else:
            message["content"] = answer.text
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(answer)}
        return {**self._envelope("chat.completion"), "choices": [choice], "usage": _chat_usage(answer)}

    def error(self, failure: Failure) -> Any:
        return error_body(failure)

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-scripted-{self.serial}",
            "object": kind,
            "created": CREATED_AT,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self._envelope("chat.completion.chunk"), "choices": [choice]}

    def _chunks(self, answer: Answer) -> Iterator[dict[str, Any]]:
        if isinstance(answer, ToolCall):
            yield self._chunk(
                {"role": "assistant", "content": None, "tool_calls": [_tool_call(answer, "", index=0)]}
            )
            for piece in _pieces(json.dumps(answer.arguments), 3):
                yield self._chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        else:
            yield self._chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in _pieces(answer.text, 3):
                yield self._chunk({"content": piece})
        yield self._chunk({}, _finish_reason(answer))
        if self.include_usage:
            yield {**self._envelope("chat.completion.chunk"), "choices": [], "usage": _chat_usage(answer)}


def _tool_call(answer: ToolCall, arguments: str, index: int | None = None) -> dict[str, Any]:
    call = {
        "id": answer.call_id,
        "type": "function",
        "function": {"name": answer.name, "arguments": arguments},
    }
    return call if index is None else {"index": index, **call}


def _chat_usage(answer: Answer) -> dict[str, int]:
    return {"prompt_tokens": answer.input_tokens, "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens}  # fmt: skip


def _finish_reason(answer: Answer) -> str:
    return "tool_calls" if isinstance(answer, ToolCall) else "stop"


def _pieces(text: str, count: int) -> list[str]:
    """Split `text` into up to `count` parts, so a stream always has several deltas to pace."""
    if not text:
        return []
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(payload: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()
