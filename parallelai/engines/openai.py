"""The openai engine: ChatGPT and any OpenAI-compatible server, over streaming Chat Completions or Responses.

vLLM, llama.cpp's server, LM Studio and the like speak Chat Completions; point `base_url` at them.
The engine sends one prompt and streams one answer: it offers the model no tools, so a task that
needs to edit files belongs to a CLI engine (codex, copilot...).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any, Literal

import httpx
from pydantic import ConfigDict, Field, SecretStr, ValidationError

from parallelai.engines._http.errors import error_from_response, retry_after
from parallelai.engines._http.gating import estimate_tokens, paced
from parallelai.engines._http.openai_wire import (
    FINISHED_EVENTS,
    ChatChunk,
    ErrorBody,
    ResponseBody,
    ResponsesEvent,
)
from parallelai.engines._http.pool import HttpPool
from parallelai.engines._http.sse import ServerSentEvent, aiter_sse, sse_lines
from parallelai.engines._pricing import OPENAI_PRICES, ModelPrice, PriceTable
from parallelai.engines._redaction import Redactor
from parallelai.engines._settings import PacingSettings, SettingsSource
from parallelai.engines.base import Emit, EngineRequest, EngineStatus, RateLimitSignal, TextDelta, UsageReport
from parallelai.models import ErrorKind, TaskError, TaskResult, Usage
from parallelai.ratelimits.account import OPENAI_API

DEFAULT_BASE_URL = OPENAI_API
_MAX_ERROR_BODY = 64 * 1024


class OpenAISettings(PacingSettings):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # the engine spec's model (`openai:gpt-4.1`) wins over this
    base_url: str | None = None  # else $OPENAI_BASE_URL, else the OpenAI API
    api_key: SecretStr | None = None  # else the variable named by `api_key_env`
    api_key_env: str = "OPENAI_API_KEY"
    api: Literal["chat", "responses"] = "chat"  # local servers mostly speak only Chat Completions
    system: str | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_output_tokens: Annotated[int, Field(gt=0)] | None = None
    strict_schema: bool = True  # `output_schema` is enforced by the API, not just suggested
    prices: dict[str, ModelPrice] = Field(default_factory=dict)  # US$ per million tokens, over the built-ins
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. a gateway's key; values count as secrets
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0)] = 300.0  # longest silence inside a stream
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024


class OpenAIEngine:
    name = "openai"
    settings_model = OpenAISettings
    edits_files = False  # no tools: in an isolated run its answer is the edit (answer_edits.py)
    paces_requests = True  # each request waits at its account's gate here (engines/_http/gating.py)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(OpenAISettings, settings)
        self._pool = HttpPool()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return TaskResult(
                error=TaskError(kind=ErrorKind.BAD_REQUEST, message=f"invalid openai options: {error}")
            )
        model = request.model or settings.model
        if not model:
            return TaskResult(
                error=TaskError(
                    kind=ErrorKind.BAD_REQUEST, message="no model: use an engine spec like `openai:gpt-4.1`"
                )
            )
        key = _api_key(settings)
        redact = Redactor([key, *settings.headers.values()])  # a gateway's key may travel in a header
        scrubbed = redact.stream(emit)
        call = _Call(settings, model, request, scrubbed, PriceTable(OPENAI_PRICES, settings.prices))
        try:
            result = await call.run(self._pool.client(), _base_url(settings), key)
        except httpx.TimeoutException:
            result = TaskResult(
                error=TaskError(
                    kind=ErrorKind.TIMEOUT, message=f"no answer from {_base_url(settings)} in time"
                )
            )
        except httpx.TransportError as error:
            result = TaskResult(
                error=TaskError(
                    kind=ErrorKind.TRANSIENT, message=f"cannot reach {_base_url(settings)}: {error!r}"
                )
            )
        except ValidationError as error:
            result = TaskResult(
                error=TaskError(kind=ErrorKind.TRANSIENT, message=f"a malformed stream event: {error}")
            )
        scrubbed.flush()
        if result.error is not None:
            result.error.message = redact(result.error.message)
        result.text = redact(result.text)  # a gateway, or a model, may echo the key
        result.duration_s = time.monotonic() - started
        return result

    def ready(self) -> EngineStatus:
        """An API key, or a server of one's own (`base_url`)? Nothing is sent: `status()` asks the server."""
        settings = self._settings.default
        base_url, key = _base_url(settings), _api_key(settings)
        if key is None and base_url == DEFAULT_BASE_URL:
            return EngineStatus(
                name=self.name,
                available=False,
                detail=f"no API key: set ${settings.api_key_env} or the `api_key` setting",
            )
        return EngineStatus(name=self.name, available=True, detail=f"{base_url} ({settings.api} API)")

    async def status(self) -> EngineStatus:
        found = self.ready()
        if not found.available:
            return found
        settings = self._settings.default
        base_url, key = _base_url(settings), _api_key(settings)
        try:
            response = await self._pool.client().get(
                f"{base_url}/models", headers=_headers(settings, key), timeout=5.0
            )
        except httpx.HTTPError as error:
            return EngineStatus(name=self.name, available=False, detail=f"cannot reach {base_url}: {error!r}")
        if response.status_code in (401, 403):
            return EngineStatus(
                name=self.name,
                available=False,
                detail=f"{base_url} refused the API key (HTTP {response.status_code})",
            )
        return EngineStatus(
            name=self.name, available=True, version=settings.api, detail=f"{base_url} ({settings.api} API)"
        )

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        return {"model": model or settings.model or "", "endpoint": _base_url(settings), "api": settings.api}

    async def aclose(self) -> None:
        await self._pool.aclose()


def _base_url(settings: OpenAISettings) -> str:
    return (settings.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def _api_key(settings: OpenAISettings) -> str | None:
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    return os.environ.get(settings.api_key_env) or None


def _headers(settings: OpenAISettings, key: str | None) -> dict[str, str]:
    headers = dict(settings.headers)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


class _Call:
    """One attempt: build the request, stream the answer, and turn what came back into a result."""

    def __init__(
        self, settings: OpenAISettings, model: str, request: EngineRequest, emit: Emit, prices: PriceTable
    ) -> None:
        self.settings, self.model, self.request, self.emit, self.prices = (
            settings,
            model,
            request,
            emit,
            prices,
        )
        self.text: list[str] = []
        self.size = 0
        self.usage = Usage()
        self.failure: TaskError | None = None
        self.finished = False
        self.truncated = False

    async def run(self, client: httpx.AsyncClient, base_url: str, key: str | None) -> TaskResult:
        settings = self.settings
        path, body = (
            ("/chat/completions", self._chat_body())
            if settings.api == "chat"
            else ("/responses", self._responses_body())
        )
        timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
        headers = {**_headers(settings, key), "Accept": "text/event-stream"}
        # OpenAI counts a request's output cap against its tokens-per-minute as it arrives.
        estimate = estimate_tokens(settings.system, self.request.prompt), settings.max_output_tokens or 0
        async with (
            paced(
                "openai", base_url, key, settings, input_tokens=estimate[0], output_tokens=estimate[1]
            ) as gate,
            client.stream("POST", base_url + path, json=body, headers=headers, timeout=timeout) as response,
        ):
            if response.status_code >= 400:
                error = await self._http_failure(response)
                refused = error.kind is ErrorKind.RATE_LIMITED
                gate.observe(
                    response.headers, response.status_code, retry_after_s=error.retry_after, refused=refused
                )
                return TaskResult(error=error)
            gate.observe(response.headers, response.status_code)
            self._signal_exhausted_window(response.headers)
            events = aiter_sse(sse_lines(response.aiter_text()))
            await (self._read_chat(events) if settings.api == "chat" else self._read_responses(events))
            gate.settle(self.usage.input_tokens, self.usage.output_tokens)
        return self._result()

    # -- request bodies -----------------------------------------------------------------------

    def _chat_body(self) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.settings.system}] if self.settings.system else []
        messages.append({"role": "user", "content": self.request.prompt})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        if self.settings.max_output_tokens is not None:
            body["max_completion_tokens"] = self.settings.max_output_tokens
        schema = self.request.options.output_schema
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": self.settings.strict_schema},
            }
        return body

    def _responses_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": self.request.prompt,
            "stream": True,
            "store": False,
        }
        if self.settings.system:
            body["instructions"] = self.settings.system
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        if self.settings.max_output_tokens is not None:
            body["max_output_tokens"] = self.settings.max_output_tokens
        schema = self.request.options.output_schema
        if schema is not None:
            body["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": "output",
                    "schema": schema,
                    "strict": self.settings.strict_schema,
                }
            }
        return body

    # -- streams ------------------------------------------------------------------------------

    async def _read_chat(self, events: AsyncIterator[ServerSentEvent]) -> None:
        async for event in events:
            if event.data.strip() == "[DONE]":
                self.finished = True
                break
            chunk = ChatChunk.model_validate_json(event.data)
            if chunk.error is not None:
                self.failure = TaskError(
                    kind=ErrorKind.TRANSIENT, message=f"the server failed mid-stream: {chunk.error.message}"
                )
                return
            for choice in chunk.choices:
                self._add_text(choice.delta.content)
                if choice.delta.refusal:
                    self.failure = TaskError(
                        kind=ErrorKind.EXECUTION, message=f"the model refused: {choice.delta.refusal}"
                    )
                if choice.finish_reason is not None:
                    self.finished = True
            if chunk.usage is not None:
                self._set_usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)

    async def _read_responses(self, events: AsyncIterator[ServerSentEvent]) -> None:
        async for raw in events:
            event = ResponsesEvent.model_validate_json(raw.data)
            if event.type == "response.output_text.delta":
                self._add_text(event.delta)
            elif event.type == "error":
                self.failure = TaskError(
                    kind=ErrorKind.TRANSIENT, message=f"stream error {event.code}: {event.message}"
                )
                return
            elif event.type in FINISHED_EVENTS and event.response is not None:
                self.finished = True
                self._finish_response(event.type, event.response)
                return

    def _finish_response(self, kind: str, response: ResponseBody) -> None:
        if response.usage is not None:
            self._set_usage(response.usage.input_tokens, response.usage.output_tokens)
        if kind == "response.failed":
            detail = response.error.message if response.error else "no detail"
            self.failure = TaskError(kind=ErrorKind.EXECUTION, message=f"the response failed: {detail}")
        elif kind == "response.incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            self.failure = TaskError(
                kind=ErrorKind.EXECUTION, message=f"the response is incomplete: {reason}"
            )

    def _add_text(self, text: str | None) -> None:
        if not text or self.truncated:
            return
        room = self.settings.max_output_bytes - self.size
        if len(text.encode()) > room:
            text, self.truncated = text.encode()[: max(room, 0)].decode(errors="ignore"), True
        self.size += len(text.encode())
        self.text.append(text)
        self.emit(TextDelta(text))

    def _set_usage(self, input_tokens: int, output_tokens: int) -> None:
        self.usage = self.prices.usage(self.model, input_tokens, output_tokens)
        self.emit(UsageReport(self.usage))

    # -- outcome ------------------------------------------------------------------------------

    def _result(self) -> TaskResult:
        text = "".join(self.text)
        if self.failure is None and not self.finished:
            self.failure = TaskError(
                kind=ErrorKind.TRANSIENT, message="the stream ended before the answer was complete"
            )
        if self.failure is not None:
            return TaskResult(text=text, usage=self.usage, error=self.failure)
        if self.request.options.output_schema is None:
            return TaskResult(text=text, usage=self.usage)
        try:
            structured = json.loads(text)
        except ValueError as error:
            return TaskResult(
                text=text,
                usage=self.usage,
                error=TaskError(
                    kind=ErrorKind.EXECUTION,
                    message=f"the answer is not the JSON the output schema asks for: {error}",
                ),
            )
        return TaskResult(text=text, structured=structured, usage=self.usage)

    async def _http_failure(self, response: httpx.Response) -> TaskError:
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > _MAX_ERROR_BODY:
                break
        try:
            detail = ErrorBody.model_validate_json(raw).error.message
        except ValidationError:
            detail = raw[:500].decode("utf-8", errors="replace").strip() or "no detail"
        error = error_from_response(response, detail)
        if error.kind is ErrorKind.RATE_LIMITED:
            self.emit(RateLimitSignal(error.retry_after))
        return error

    def _signal_exhausted_window(self, headers: httpx.Headers) -> None:
        """Tell the scheduler before the next request fails: this one used the window's last slot."""
        remaining = [headers.get(f"x-ratelimit-remaining-{kind}") for kind in ("requests", "tokens")]
        if any(value is not None and value.strip() == "0" for value in remaining):
            self.emit(RateLimitSignal(retry_after(headers)))
