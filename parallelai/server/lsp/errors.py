"""The one place where errors become JSON-RPC errors: caller mistakes are InvalidParams, never a crash.

    ValidationError, InputError, RunNotFoundError, TaskNotFoundError → InvalidParams (-32602)
    DaemonError, the daemon unreachable or failing to start           → DAEMON_UNAVAILABLE (-32000)
    DaemonError, the daemon refused the request (4xx)                 → InvalidParams (-32602)
    DaemonError, the daemon failed (5xx)                              → InternalError (-32603)
    anything else (a bug here)                                        → InternalError, logged with its traceback

Every error carries `data = {"type": <the exception's class name>}` so a client can tell an
unknown run from a bad body without parsing the message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from pydantic import ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from parallelai.client.errors import DaemonError
from parallelai.errors import InputError, RunNotFoundError, TaskNotFoundError

log = logging.getLogger("parallelai.lsp")

DAEMON_UNAVAILABLE = -32000  # the first of JSON-RPC's implementation-defined server errors

P = ParamSpec("P")
R = TypeVar("R")


def rpc_errors(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a request or command handler so whatever it raises reaches the client as a JSON-RPC error."""

    @functools.wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except JsonRpcException:
            raise
        except Exception as error:
            raise to_rpc_error(error) from None

    return guarded


def to_rpc_error(error: Exception) -> JsonRpcException:
    data = {"type": type(error).__name__}
    if isinstance(error, ValidationError):
        return JsonRpcInvalidParams(f"invalid params: {describe_validation(error)}", data=data)
    if isinstance(error, InputError | RunNotFoundError | TaskNotFoundError):
        log.info("caller mistake: %s", error)
        return JsonRpcInvalidParams(str(error), data=data)
    if isinstance(error, DaemonError):
        if error.status is None:
            return JsonRpcException(_unavailable(error), code=DAEMON_UNAVAILABLE, data=data)
        if error.status < 500:
            return JsonRpcInvalidParams(str(error), data=data)
        return JsonRpcInternalError(f"the parallelai daemon failed: {error}", data=data)
    log.exception("unexpected error in a request handler")
    return JsonRpcInternalError(
        f"internal error: {error!r}; the server's log (stderr) has the details", data=data
    )


def describe_validation(error: ValidationError) -> str:
    """`field: problem; other.field: problem` — short enough for an editor's error popup."""
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "params"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)


def _unavailable(error: DaemonError) -> str:
    return (
        f"the parallelai daemon is unavailable: {error}. The language server starts one on the next "
        "request if none runs; `parallelai status` shows what is wrong, `parallelai serve --detach` starts it by hand."
    )


def quiet_caller_mistakes() -> None:
    """Keep pygls from logging a traceback for every error we raise on purpose (they are logged above)."""
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_drop_rpc_error_tracebacks)


def _drop_rpc_error_tracebacks(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, JsonRpcException)
