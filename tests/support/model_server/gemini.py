"""The Gemini dialect: generateContent, streamGenerateContent (SSE) and countTokens under /v1beta/models."""

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

# google.rpc status names the API sends with each HTTP status.
ERROR_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GeminiDialect:
    name = "gemini"

    def routes(self, server: ScriptedModelServer) -> Sequence[BaseRoute]:
        async def models(request: Request) -> Response:
            # The model and the method share one path segment: "gemini-2.5-pro:streamGenerateContent".
            model, _, method = request.path_params["target"].partition(":")
            if method == "countTokens":  # not a model turn: it must not consume the script
                raw = await request.body()
                return JSONResponse({"totalTokens": max(1, len(raw) // 4)})
            if method not in ("generateContent", "streamGenerateContent"):
                return JSONResponse(error_body(Failure(404, f"unknown method {method!r}")), status_code=404)
            _, turn = await server.take(request)
            rendering = GeminiRendering(model=model, serial=len(server.requests))
            return await server.respond(turn, rendering, stream=method == "streamGenerateContent")

        return [
            Route(f"/{version}/models/{{target:path}}", models, methods=["POST"])
            for version in ("v1beta", "v1")
        ]


def error_body(failure: Failure) -> dict[str, Any]:
    status = failure.error_type or ERROR_STATUSES.get(failure.status, "UNKNOWN")
    error: dict[str, Any] = {"code": failure.status, "message": failure.message, "status": status}
    retry = failure.headers.get("retry-after")
    if retry is not None:  # the API puts its wait in the body too, as a google.rpc.RetryInfo detail
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"}]
    return {"error": error}


@dataclass(frozen=True, slots=True)
class GeminiRendering:
    model: str
    serial: int
    media_type: str = "text/event-stream"

    def chunks(self, answer: Answer) -> Iterable[bytes]:
        return (f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in self._chunks(answer))

    def body(self, answer: Answer) -> Any:
        return self._response(
            [_part(answer, answer.text if not isinstance(answer, ToolCall) else "")], answer
        )

    def error(self, failure: Failure) -> Any:
        return error_body(failure)

    def _response(self, parts: list[dict[str, Any]], answer: Answer | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        response: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": self.model,
            "responseId": f"scripted-{self.serial}",
        }
        if answer is not None:  # the last chunk closes the candidate and carries the usage
            candidate["finishReason"] = "STOP"
            response["usageMetadata"] = {
                "promptTokenCount": answer.input_tokens,
                "candidatesTokenCount": answer.output_tokens,
                "totalTokenCount": answer.input_tokens + answer.output_tokens,
            }
        return response

    def _chunks(self, answer: Answer) -> Iterator[dict[str, Any]]:
        if isinstance(answer, ToolCall):
            yield self._response([_part(answer, "")], answer)
            return
        pieces = _pieces(answer.text, 3) or [""]
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            yield self._response([{"text": piece}], answer if last else None)


def _part(answer: Answer, text: str) -> dict[str, Any]:
    if isinstance(answer, ToolCall):
        return {"functionCall": {"name": answer.name, "args": answer.arguments}}
    return {"text": text}


def _pieces(text: str, count: int) -> list[str]:
    if not text:
        return []
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]
