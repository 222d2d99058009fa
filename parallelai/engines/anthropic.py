"""The anthropic engine: one prompt, one streamed answer from the Anthropic Messages API over httpx.

It offers the model no tools (a task that edits files belongs to the claude-code engine); an
`output_schema` becomes one forced tool whose input is the structured answer. Failures are told
apart for the scheduler: 429 means wait (Retry-After, or when the exhausted window resets), 529
means the API is overloaded (back off), a spend-limit 429 is never retried, 400/401 are fatal.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import anyio
import httpx
from pydantic import ConfigDict, Field, SecretStr, ValidationError

from parallelai.engines._http.anthropic_errors import anthropic_error_kind
from parallelai.engines._http.anthropic_stream import (
    ContentBlockDelta,
    ContentBlockStart,
    ErrorEvent,
    JsonDeltaBody,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamUsage,
    TextDeltaBody,
    ToolUseStart,
    parse_error_body,
    parse_event,
)
from parallelai.engines._http.errors import retry_after
from parallelai.engines._http.gating import estimate_tokens, paced
from parallelai.engines._http.pool import HttpPool
from parallelai.engines._http.sse import aiter_sse, sse_lines
from parallelai.engines._pricing import ListPrices, ModelPrice, PriceTable
from parallelai.engines._redaction import Redactor
from parallelai.engines._settings import PacingSettings, SettingsSource
from parallelai.engines.base import (
    Activity,
    Emit,
    EngineRequest,
    EngineStatus,
    RateLimitSignal,
    TextDelta,
    UsageReport,
)
from parallelai.models import ErrorKind, TaskError, TaskResult, Usage
from parallelai.ratelimits.account import ANTHROPIC_API

DEFAULT_BASE_URL = ANTHROPIC_API
DEFAULT_MODEL = "claude-sonnet-4-5"
STRUCTURED_TOOL = "structured_output"
_MAX_ERROR_BODY = 64 * 1024
_WINDOWS = ("requests", "tokens", "input-tokens", "output-tokens")

ANTHROPIC_PRICES = ListPrices("anthropic")  # settings (`prices`) win over it
# Prompt-cache writes and reads are billed as multiples of the input price.
_CACHE_WRITE, _CACHE_READ = 1.25, 0.1


class AnthropicSettings(PacingSettings):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # the engine spec's model (`anthropic:claude-opus-4-5`) wins over this
    base_url: str | None = None  # else $ANTHROPIC_BASE_URL, else the Anthropic API
    api_key: SecretStr | None = None  # else the variable named by `api_key_env`
    api_key_env: str = "ANTHROPIC_API_KEY"
    max_tokens: Annotated[int, Field(gt=0)] = 8192
    system: str | None = None
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    anthropic_version: str = "2023-06-01"
    betas: list[str] = Field(default_factory=list)  # sent as `anthropic-beta`
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. a gateway's own key
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0)] = 300.0  # longest silence inside a stream
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024


class AnthropicEngine:
    name = "anthropic"
    settings_model = AnthropicSettings
    edits_files = False  # no tools: in an isolated run its answer is the edit (answer_edits.py)
    paces_requests = True  # each request waits at its account's gate here (engines/_http/gating.py)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(AnthropicSettings, settings)
        self._pool = HttpPool()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return _failed(ErrorKind.BAD_REQUEST, f"invalid anthropic options: {error}")
        key = _api_key(settings)
        if key is None:
            return _failed(ErrorKind.AUTH, f"no Anthropic API key: set {settings.api_key_env} or `api_key`")
        redact = Redactor([key, *settings.headers.values()])
        model = request.model or settings.model or DEFAULT_MODEL
        prices = PriceTable(ANTHROPIC_PRICES, settings.prices)
        scrubbed = redact.stream(emit)
        call = _Call(settings, model, request, scrubbed, prices)
        result: TaskResult | None = None
        with anyio.move_on_after(request.options.timeout or float("inf")) as timer:
            try:
                result = await call.run(self._pool.client(), _base_url(settings), key)
            except httpx.TimeoutException as error:
                result = _failed(ErrorKind.TIMEOUT, f"anthropic: {type(error).__name__}: no answer in time")
            except httpx.HTTPError as error:
                result = _failed(ErrorKind.TRANSIENT, redact(f"anthropic: {type(error).__name__}: {error}"))
        if timer.cancelled_caught or result is None:
            result = call.result().model_copy(
                update={
                    "error": TaskError(
                        kind=ErrorKind.TIMEOUT,
                        message=f"anthropic: no answer after {request.options.timeout}s",
                    )
                }
            )
        scrubbed.flush()
        # The model never sees the key, but an echoing gateway or a proxy's error page might carry it.
        failure = (
            result.error.model_copy(update={"message": redact(result.error.message)})
            if result.error
            else None
        )
        return result.model_copy(
            update={"text": redact(result.text), "error": failure, "duration_s": time.monotonic() - started}
        )

    def ready(self) -> EngineStatus:
        """Is there an API key? Nothing is sent: the key is first tried by a run."""
        settings = self._settings.default
        if _api_key(settings) is None:
            return EngineStatus(
                name=self.name,
                available=False,
                detail=f"no API key: set {settings.api_key_env} (or `api_key` in the engine settings)",
            )
        return EngineStatus(
            name=self.name, available=True, version="messages-api", detail=f"calls {_base_url(settings)}"
        )

    async def status(self) -> EngineStatus:
        return self.ready()

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        return {"model": model or settings.model or DEFAULT_MODEL, "endpoint": _base_url(settings)}

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Call:
    """One request and its streamed answer."""

    def __init__(
        self, settings: AnthropicSettings, model: str, request: EngineRequest, emit: Emit, prices: PriceTable
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
        self.truncated = False
        self.tool_json: dict[int, list[str]] = {}  # block index -> partial JSON of a tool_use block
        self.structured_index: int | None = None
        self.input = StreamUsage()
        self.output_tokens = 0
        self.stop_reason: str | None = None
        self.finished = False
        self.stream_error: TaskError | None = None

    async def run(self, client: httpx.AsyncClient, base_url: str, key: str) -> TaskResult:
        settings = self.settings
        timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
        url, body, headers = base_url + "/v1/messages", self._body(), self._headers(key)
        # Output tokens count against Anthropic's OTPM as they are produced: charged once known.
        estimate = estimate_tokens(settings.system, self.request.prompt)
        async with (
            paced("anthropic", base_url, key, settings, input_tokens=estimate) as gate,
            client.stream("POST", url, json=body, headers=headers, timeout=timeout) as response,
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
            async for event in aiter_sse(sse_lines(response.aiter_text())):
                self._on_event(event.data)
                if self.finished or self.stream_error is not None:
                    break
            usage = self._usage()
            gate.settle(usage.input_tokens, usage.output_tokens)
        return self.result()

    def _body(self) -> dict[str, Any]:
        settings = self.settings
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": settings.max_tokens,
            "messages": [{"role": "user", "content": self.request.prompt}],
            "stream": True,
        }
        if settings.system:
            body["system"] = settings.system
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        schema = self.request.options.output_schema
        if schema is not None:
            body["tools"] = [{"name": STRUCTURED_TOOL, "description": "Give the answer in this structure.",
                              "input_schema": schema}]  # fmt: skip
            body["tool_choice"] = {"type": "tool", "name": STRUCTURED_TOOL}
        return body

    def _headers(self, key: str) -> dict[str, str]:
        headers = {
            "x-api-key": key,
            "anthropic-version": self.settings.anthropic_version,
            "accept": "text/event-stream",
            **self.settings.headers,
        }
        if self.settings.betas:
            headers["anthropic-beta"] = ",".join(self.settings.betas)
        return headers

    def _on_event(self, data: str) -> None:
        event = parse_event(data)
        if isinstance(event, MessageStart):
            self.input = event.message.usage
            self.model = event.message.model or self.model
        elif isinstance(event, ContentBlockStart) and isinstance(event.content_block, ToolUseStart):
            self.tool_json[event.index] = []
            if event.content_block.name == STRUCTURED_TOOL:
                self.structured_index = event.index
            else:
                self.emit(Activity("tool_call", event.content_block.name))
        elif isinstance(event, ContentBlockDelta):
            if isinstance(event.delta, TextDeltaBody):
                self._add_text(event.delta.text)
            elif isinstance(event.delta, JsonDeltaBody) and event.index in self.tool_json:
                self.tool_json[event.index].append(event.delta.partial_json)
        elif isinstance(event, MessageDelta):
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = event.usage.output_tokens or self.output_tokens
            if event.usage.input_tokens is not None:  # newer streams repeat the final input count here
                self.input = event.usage
            self.emit(UsageReport(self._usage()))
        elif isinstance(event, MessageStop):
            self.finished = True
        elif isinstance(event, ErrorEvent):
            kind = anthropic_error_kind(None, event.error.type, event.error.message)
            self.stream_error = TaskError(
                kind=kind, message=f"anthropic: {event.error.type}: {event.error.message}"[:1000]
            )
            if kind in (ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED):
                self.emit(RateLimitSignal(None))

    def _add_text(self, text: str) -> None:
        if self.truncated:
            return
        room = self.settings.max_output_bytes - self.size
        encoded = text.encode()
        if len(encoded) > room:
            self.truncated = True
            text = encoded[:room].decode("utf-8", errors="ignore")
        self.size += len(text.encode())
        self.text.append(text)
        self.emit(TextDelta(text))

    def _usage(self) -> Usage:
        usage = self.input
        fresh = usage.input_tokens or 0
        written = usage.cache_creation_input_tokens or 0
        read = usage.cache_read_input_tokens or 0
        price = self.prices.price(self.model)
        cost = 0.0
        if price is not None:
            billed_input = fresh + written * _CACHE_WRITE + read * _CACHE_READ
            cost = (billed_input * price.input + self.output_tokens * price.output) / 1_000_000
        return Usage(input_tokens=fresh + written + read, output_tokens=self.output_tokens, cost_usd=cost)

    def result(self) -> TaskResult:
        usage = self._usage()
        text = "".join(self.text)
        if self.stream_error is not None:
            return TaskResult(text=text, usage=usage, error=self.stream_error)
        if not self.finished:
            return TaskResult(text=text, usage=usage, error=TaskError(
                kind=ErrorKind.TRANSIENT, message="anthropic: the stream ended before message_stop"))  # fmt: skip
        if self.stop_reason == "refusal":
            return TaskResult(text=text, usage=usage, error=TaskError(
                kind=ErrorKind.EXECUTION, message="anthropic: the model refused to answer"))  # fmt: skip
        structured = None
        if self.structured_index is not None:
            raw = "".join(self.tool_json.get(self.structured_index, [])) or "{}"
            try:
                structured = json.loads(raw)
            except ValueError as error:
                return TaskResult(text=raw, usage=usage, error=TaskError(
                    kind=ErrorKind.EXECUTION, message=f"anthropic: the structured answer is not JSON: {error}"))  # fmt: skip
            text = text or json.dumps(structured)
        if self.stop_reason == "max_tokens":
            self.emit(Activity("truncated", f"the answer hit max_tokens ({self.settings.max_tokens})"))
        return TaskResult(text=text, structured=structured, usage=usage)

    async def _http_failure(self, response: httpx.Response) -> TaskError:
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > _MAX_ERROR_BODY:
                break
        detail = parse_error_body(raw)
        error_type = detail.type if detail else None
        message = (
            detail.message if detail else (raw[:500].decode("utf-8", errors="replace").strip() or "no detail")
        )
        kind = anthropic_error_kind(response.status_code, error_type, message)
        wait = _wait_seconds(response.headers) if kind.retryable else None
        if kind in (ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED):
            self.emit(RateLimitSignal(wait))
        label = f"HTTP {response.status_code}" + (f" {error_type}" if error_type else "")
        return TaskError(kind=kind, message=f"anthropic: {label}: {message}"[:1000], retry_after=wait)

    def _signal_exhausted_window(self, headers: httpx.Headers) -> None:
        """Tell the scheduler before the next request fails: this one used a window's last slot."""
        if any((headers.get(f"anthropic-ratelimit-{w}-remaining") or "").strip() == "0" for w in _WINDOWS):
            self.emit(RateLimitSignal(_wait_seconds(headers)))


def _wait_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Retry-After if given, else when the latest exhausted `anthropic-ratelimit-*` window resets."""
    explicit = retry_after(headers)
    if explicit is not None:
        return explicit
    now = time.time() if now is None else now
    resets = []
    for window in _WINDOWS:
        if (headers.get(f"anthropic-ratelimit-{window}-remaining") or "").strip() != "0":
            continue
        stamp = headers.get(f"anthropic-ratelimit-{window}-reset")
        if stamp:
            try:
                resets.append(
                    max(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - now, 0.0)
                )
            except ValueError:
                continue
    return max(resets) if resets else None


def _base_url(settings: AnthropicSettings) -> str:
    return (settings.base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def _api_key(settings: AnthropicSettings) -> str | None:
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    return os.environ.get(settings.api_key_env) or None


def _failed(kind: ErrorKind, message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message))
