"""One API endpoint described once: the route Starlette serves and the entry OpenAPI documents.

Handlers read their inputs through `read_body` and `read_query`, so every body is JSON, of
bounded size, and validated by the pydantic model that the OpenAPI document shows. Whatever the
bytes, a body is answered 400 or 422, never 500: invalid UTF-8, lone surrogates, numbers past
4,300 digits or past a float's range, and nesting deeper than 200 are malformed JSON here, and
the model validates strictly, as JSON Schema reads it (`false` is no integer, `"3"` no number).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import from_json, to_json
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parallelai.server.http.errors import ApiError

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY_BYTES = 4 * 1024 * 1024  # a run of many thousands of prompts fits; a runaway upload does not


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # the type of the JSON answer, for the document and for tests
    status: int = 200
    stream: bool = False  # answers with text/event-stream instead of JSON
    errors: tuple[int, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # the success answer's integer headers: (name, description)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")

    def route(self) -> Route:
        return Route(self.path, self.handler, methods=[self.method], name=self.operation_id)


def is_json_media_type(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(request: Request, model: type[M], limit: int = MAX_BODY_BYTES) -> M:
    """The body as `model`: 415 if not JSON, 413 if too big, 400 if malformed, 422 if invalid."""
    if not is_json_media_type(request.headers.get("content-type")):
        raise ApiError(
            415, "unsupported_media_type", "send the body as JSON with `Content-Type: application/json`"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "malformed_json", "the body is empty; send a JSON object")
    try:
        # jiter, as pydantic parses: it refuses lone surrogates, over-long numbers and deep nesting
        # with a message, where `json.loads` would raise ValueError or RecursionError.
        data = from_json(raw, allow_inf_nan=False)
    except ValueError as error:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {error}") from None
    if not _all_finite(data):
        raise ApiError(
            400, "malformed_json", "the body has a number too large for a float; numbers must be finite"
        )
    return model.model_validate_json(raw, strict=True)


def _all_finite(data: Any) -> bool:
    """Whether no float in `data` overflowed to infinity (`1e400`); walked without recursion."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return False
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def read_query(request: Request, model: type[M]) -> M:
    return model.model_validate(dict(request.query_params))


def json_response(value: Any, status: int = 200) -> Response:
    return Response(to_json(value), status_code=status, media_type="application/json")
