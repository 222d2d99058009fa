"""The OpenAI, Gemini and Ollama dialects of the scripted model server speak each API's wire format."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.model_server import Failure, Reply, ScriptedModelServer, ToolCall
from tests.support.model_server.openai import rate_limited


def sse_data(text: str) -> list[Any]:
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def test_chat_completions_stream_tool_call_deltas_then_a_usage_chunk_and_done(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(
        ToolCall("create", {"path": "a.txt"}, call_id="call_9", input_tokens=5, output_tokens=3)
    )
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}, "messages": []}
    response = httpx.post(f"{model_server.url}/v1/chat/completions", json=body)

    chunks = sse_data(response.text)
    calls = [
        call
        for chunk in chunks
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"] == "call_9"
    assert calls[0]["function"]["name"] == "create"
    assert json.loads("".join(call["function"]["arguments"] for call in calls)) == {"path": "a.txt"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert response.text.endswith("data: [DONE]\n\n")


def test_chat_completions_answer_in_one_body_without_stream(model_server: ScriptedModelServer) -> None:
    model_server.script(Reply("hi"))
    response = httpx.post(f"{model_server.url}/chat/completions", json={"model": "m", "messages": []})
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "hi"
    assert answer["usage"]["completion_tokens"] == 7


def test_the_responses_api_streams_typed_events_and_completes_with_usage(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(Reply("hello world", input_tokens=20, output_tokens=2))
    response = httpx.post(
        f"{model_server.url}/v1/responses", json={"model": "m", "stream": True, "input": "x"}
    )

    events = sse_data(response.text)
    types = [event["type"] for event in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-1] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "hello world"
    assert events[-1]["response"]["usage"]["input_tokens"] == 20
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert "event: response.completed\n" in response.text


def test_a_responses_function_call_streams_its_arguments(model_server: ScriptedModelServer) -> None:
    model_server.script(ToolCall("exec_command", {"cmd": "ls"}))
    response = httpx.post(
        f"{model_server.url}/v1/responses", json={"model": "m", "stream": True, "input": "x"}
    )

    events = sse_data(response.text)
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["type"] == "function_call"
    assert added["item"]["name"] == "exec_command"
    arguments = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"cmd": "ls"}


def test_an_openai_rate_limit_carries_retry_after_and_ratelimit_headers(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(rate_limited(2))
    response = httpx.post(f"{model_server.url}/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_gemini_streams_sse_chunks_and_ends_with_usage_metadata(model_server: ScriptedModelServer) -> None:
    model_server.script(Reply("hello world", input_tokens=9, output_tokens=4))
    url = f"{model_server.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    response = httpx.post(url, json={"contents": []})

    chunks = sse_data(response.text)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "hello world"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {
        "promptTokenCount": 9,
        "candidatesTokenCount": 4,
        "totalTokenCount": 13,
    }
    assert model_server.requests[0].query == "alt=sse"


def test_gemini_answers_a_function_call_in_one_body_and_counts_tokens_without_using_the_script(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(ToolCall("write_file", {"file_path": "a.txt", "content": "x"}))
    base = f"{model_server.url}/v1beta/models/gemini-2.5-pro"
    counted = httpx.post(f"{base}:countTokens", json={"contents": []})
    answer = httpx.post(f"{base}:generateContent", json={"contents": []}).json()

    assert counted.json()["totalTokens"] > 0
    part = answer["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"] == {"name": "write_file", "args": {"file_path": "a.txt", "content": "x"}}
    assert len(model_server.requests) == 1


def test_a_gemini_error_has_the_rpc_status_and_retry_info(model_server: ScriptedModelServer) -> None:
    model_server.script(Failure(429, "Quota exceeded", headers={"retry-after": "7"}))
    response = httpx.post(f"{model_server.url}/v1beta/models/m:generateContent", json={})
    error = response.json()["error"]
    assert (response.status_code, error["status"], error["code"]) == (429, "RESOURCE_EXHAUSTED", 429)
    assert error["details"][0]["retryDelay"] == "7s"


def test_ollama_streams_ndjson_by_default_and_ends_with_eval_counts(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(Reply("hello world", input_tokens=11, output_tokens=3))
    response = httpx.post(f"{model_server.url}/api/chat", json={"model": "llama3.2", "messages": []})

    lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "".join(line["message"]["content"] for line in lines) == "hello world"
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert (lines[-1]["prompt_eval_count"], lines[-1]["eval_count"]) == (11, 3)


def test_ollama_answers_tool_calls_in_one_body_and_lists_tags_and_version(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(ToolCall("write", {"path": "a"}))
    answer = httpx.post(f"{model_server.url}/api/chat", json={"model": "m", "stream": False}).json()
    tags = httpx.get(f"{model_server.url}/api/tags").json()
    version = httpx.get(f"{model_server.url}/api/version").json()

    assert answer["done"] is True
    assert answer["message"]["tool_calls"] == [{"function": {"name": "write", "arguments": {"path": "a"}}}]
    assert "llama3.2:latest" in [model["name"] for model in tags["models"]]
    assert version["version"]
    assert len(model_server.requests) == 1
