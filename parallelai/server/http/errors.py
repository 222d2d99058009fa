"""The one place where errors become HTTP: status, a stable `code` and a message people can act on.

    ApiError (this layer)           its own status: 400 bad JSON, 401, 403, 413, 415, 421
    pydantic.ValidationError        422 with one entry per problem field
    InputError (and subclasses)     422 (UnknownEngineError: code `unknown_engine`)
    RunNotFoundError                404 `run_not_found`
    TaskNotFoundError               404 `task_not_found`
    RunBusyError                    409 `run_busy` (another process executes the run)
    StoreError                      503 `store_unavailable`
    HTTPException (routing)         its status and headers (404 unknown path, 405 wrong method
                                    with `Allow`, TRACE included)
    anything else                   500 `internal`, logged with its traceback

A caller's mistake is never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ExceptionHandler

from parallelai.errors import (
    InputError,
    ParallelAIError,
    RunBusyError,
    RunNotFoundError,
    StoreError,
    TaskNotFoundError,
    UnknownEngineError,
)
from parallelai.wire import ErrorBody, ErrorDetail, FieldProblem

log = logging.getLogger("parallelai.server")


class ApiError(Exception):
    """A protocol-level refusal found by the HTTP layer itself (auth, headers, body format)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(status=status, code=code, message=message, details=details or []))
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="parallelai"'
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers or None)


def response_for(error: Exception) -> Response:
    if isinstance(error, ApiError):
        return error_response(error.status, error.code, error.message)
    if isinstance(error, ValidationError):
        problems = [
            FieldProblem(
                location=".".join(str(part) for part in problem["loc"]) or "body", message=problem["msg"]
            )
            for problem in error.errors()
        ]
        first = problems[0]
        return error_response(422, "invalid_body", f"{first.location}: {first.message}", problems)
    if isinstance(error, UnknownEngineError):
        return error_response(422, "unknown_engine", str(error))
    if isinstance(error, InputError):
        return error_response(422, "invalid_input", str(error))
    if isinstance(error, RunNotFoundError):
        return error_response(404, "run_not_found", str(error))
    if isinstance(error, TaskNotFoundError):
        return error_response(404, "task_not_found", str(error))
    if isinstance(error, RunBusyError):
        return error_response(409, "run_busy", str(error))
    if isinstance(error, StoreError):
        return error_response(503, "store_unavailable", str(error))
    if isinstance(error, HTTPException):
        phrase = HTTPStatus(error.status_code).phrase
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        return error_response(error.status_code, code, error.detail or phrase, headers=error.headers)
    if isinstance(error, ParallelAIError):
        return error_response(500, "failed", str(error))
    log.exception("unexpected error in the HTTP API", exc_info=error)
    return error_response(500, "internal", "internal error; the daemon log has the details")


async def _handle(request: Request, error: Exception) -> Response:
    if isinstance(error, HTTPException) and error.status_code == 405:
        error = HTTPException(405, error.detail, {"Allow": _allowed_methods(request)})
    return response_for(error)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: one route answers 405 naming its own only."""
    scope = {**request.scope, "type": "http"}
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def exception_handlers() -> dict[type[Exception] | int, ExceptionHandler]:
    # Named classes are answered by Starlette's ExceptionMiddleware; `Exception` alone goes to
    # ServerErrorMiddleware, which also re-raises so the server logs the bug.
    return {
        ApiError: _handle,
        ValidationError: _handle,
        ParallelAIError: _handle,
        HTTPException: _handle,
        Exception: _handle,
    }
