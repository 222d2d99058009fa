"""Errors reach LSP clients as JSON-RPC errors that say what to do, and a lost daemon comes back by itself."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel, ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from parallelai.client.errors import DaemonError
from parallelai.client.launcher import stop_daemon
from parallelai.errors import InputError, RunNotFoundError
from parallelai.server.lsp import protocol
from parallelai.server.lsp.errors import DAEMON_UNAVAILABLE, rpc_errors, to_rpc_error
from tests.lsp._session import Session


class _Params(BaseModel):
    run_id: str


def test_caller_mistakes_are_invalid_params_that_keep_the_message() -> None:
    for error in (InputError("give exactly one of `prompts`, `work` or `template`"), RunNotFoundError("r1")):
        mapped = to_rpc_error(error)
        assert isinstance(mapped, JsonRpcInvalidParams)
        assert mapped.message == str(error)
        assert mapped.data == {"type": type(error).__name__}


def test_params_that_do_not_validate_name_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        _Params.model_validate({})
    mapped = to_rpc_error(raised.value)
    assert isinstance(mapped, JsonRpcInvalidParams)
    assert mapped.message == "invalid params: run_id: Field required"


def test_an_unreachable_daemon_is_a_server_error_that_says_what_to_do() -> None:
    mapped = to_rpc_error(DaemonError("cannot reach the daemon at http://127.0.0.1:1"))
    assert mapped.code == DAEMON_UNAVAILABLE
    assert "parallelai status" in mapped.message
    assert "parallelai serve --detach" in mapped.message


def test_a_daemon_failure_and_a_bug_are_internal_errors() -> None:
    assert isinstance(to_rpc_error(DaemonError("boom", status=500)), JsonRpcInternalError)
    assert isinstance(to_rpc_error(DaemonError("refused", status=409)), JsonRpcInvalidParams)
    bug = to_rpc_error(KeyError("oops"))
    assert isinstance(bug, JsonRpcInternalError)
    assert not isinstance(bug, JsonRpcInvalidParams)


@pytest.mark.anyio
async def test_a_stopped_daemon_is_started_again_by_the_next_request(session: Session) -> None:
    with anyio.fail_after(60):
        before = await session.request(protocol.DAEMON, {})
        await session.request(protocol.START_RUN, {"run": {"prompts": ["kept"]}, "watch": False})
        assert await stop_daemon() is not None
        after = await session.request(protocol.DAEMON, {})
        runs = await session.request(protocol.LIST_RUNS, {})

    assert after["url"] != before["url"] or after["token"] != before["token"]
    assert len(runs) == 1, "the new daemon works on the same store"


@pytest.mark.anyio
async def test_json_rpc_errors_raised_on_purpose_pass_through_unchanged() -> None:
    async def handler(params: object) -> None:
        raise JsonRpcException("as raised", code=-32001)

    with pytest.raises(JsonRpcException, match="as raised") as raised:
        await rpc_errors(handler)(None)
    assert raised.value.code == -32001
