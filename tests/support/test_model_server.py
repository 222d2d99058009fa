"""The scripted model server: scripts are consumed in order, failures and hangs behave like a real API."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.support.model_server import (
    Failure,
    Hang,
    Reply,
    ScriptedModelServer,
    Slow,
    ToolCall,
    default_dialects,
)


def _events(text: str) -> list[dict[str, object]]:
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


def test_the_url_is_bound_before_the_server_answers_and_probes_get_200(
    model_server: ScriptedModelServer,
) -> None:
    assert model_server.url.startswith("http://127.0.0.1:")
    assert httpx.head(model_server.url + "/").status_code == 200
    assert httpx.get(model_server.url + "/anything/else").status_code == 200
    assert model_server.requests == []  # probes are not model requests


def test_a_streamed_reply_is_anthropic_sse_with_usage_and_stop_reason(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(Reply("hello world", input_tokens=30, output_tokens=4))
    response = httpx.post(
        model_server.url + "/v1/messages?beta=true", json={"model": "m", "stream": True, "messages": []}
    )
    events = _events(response.text)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(
        str(event["delta"]["text"])  # type: ignore[index]
        for event in events
        if event["type"] == "content_block_delta"
    )
    assert text == "hello world"
    assert events[-2]["usage"] == {"input_tokens": 30, "output_tokens": 4}
    assert model_server.requests[0].query == "beta=true"


def test_a_tool_call_streams_its_arguments_as_input_json_deltas(model_server: ScriptedModelServer) -> None:
    model_server.script(ToolCall("Write", {"file_path": "a.txt", "content": "hi"}, call_id="toolu_1"))
    response = httpx.post(
        model_server.url + "/v1/messages", json={"model": "m", "stream": True, "messages": []}
    )
    events = _events(response.text)
    assert events[1]["content_block"] == {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {}}
    partial = "".join(
        str(event["delta"]["partial_json"])  # type: ignore[index]
        for event in events
        if event["type"] == "content_block_delta"
    )
    assert json.loads(partial) == {"file_path": "a.txt", "content": "hi"}
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [
        (Failure(429, "slow down", headers={"retry-after": "7"}), "rate_limit_error"),
        (Failure(529, "busy"), "overloaded_error"),
        (Failure(400, "bad"), "invalid_request_error"),
        (Failure(429, "spend", error_type="billing_error"), "billing_error"),
    ],
)
def test_failures_are_anthropic_error_documents_with_their_headers(
    model_server: ScriptedModelServer, failure: Failure, error_type: str
) -> None:
    model_server.script(failure)
    response = httpx.post(model_server.url + "/v1/messages", json={"model": "m", "stream": True})
    assert response.status_code == failure.status
    assert response.json() == {"type": "error", "error": {"type": error_type, "message": failure.message}}
    for name, value in failure.headers.items():
        assert response.headers[name] == value


def test_turns_are_consumed_in_order_then_keyed_queues_win_then_ok(model_server: ScriptedModelServer) -> None:
    model_server.script(Reply("first"), Slow(Reply("second"), chunk_delay_s=0.001))
    model_server.script_for("MARKER-7", Reply("keyed"))

    def ask(prompt: str) -> str:
        response = httpx.post(model_server.url + "/v1/messages", json={"model": "m", "messages": [prompt]})
        return str(response.json()["content"][0]["text"])

    assert [ask("x MARKER-7"), ask("a"), ask("b"), ask("c")] == ["keyed", "first", "second", "ok"]
    assert len(model_server.wait_for_requests(4, timeout=1)) == 4


def test_a_hang_answers_only_when_the_server_stops() -> None:
    statuses: list[int] = []
    with ScriptedModelServer(default_dialects()) as server:
        server.script(Hang())
        client = threading.Thread(
            target=lambda: statuses.append(
                httpx.post(server.url + "/v1/messages", json={}, timeout=30).status_code
            )
        )
        client.start()
        server.wait_for_requests(1, timeout=10)
        assert statuses == []
    client.join(timeout=10)
    assert statuses == [503]


def test_waiting_for_requests_that_never_come_raises_timeout(model_server: ScriptedModelServer) -> None:
    with pytest.raises(TimeoutError, match="got 0 requests, expected 1"):
        model_server.wait_for_requests(1, timeout=0.05)
