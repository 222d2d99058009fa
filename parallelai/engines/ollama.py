"""The ollama engine: a local model served by Ollama, over its streaming `/api/chat` (NDJSON).

Like the openai engine it sends one prompt and streams one answer, offering no tools. Local models
cost nothing unless `prices` says otherwise (e.g. for a hosted Ollama).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from parallelai.engines._http.errors import error_from_response
from parallelai.engines._http.gating import estimate_tokens, paced
from parallelai.engines._http.pool import HttpPool
from parallelai.engines._pricing import ModelPrice, PriceTable
from parallelai.engines._redaction import Redactor
from parallelai.engines._settings import PacingSettings, SettingsSource
from parallelai.engines.base import Emit, EngineRequest, EngineStatus, RateLimitSignal, TextDelta, UsageReport
from parallelai.models import ErrorKind, TaskError, TaskResult, Usage

DEFAULT_HOST = "http://127.0.0.1:11434"
_MAX_ERROR_BODY = 64 * 1024


class OllamaSettings(PacingSettings):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # the engine spec's model (`ollama:llama3.2`) wins over this
    base_url: str | None = None  # else $OLLAMA_HOST, else http://127.0.0.1:11434
    api_key: SecretStr | None = None  # for a hosted or proxied Ollama; sent as a bearer token
    system: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # model options: temperature, num_ctx, seed...
    keep_alive: str | None = None  # how long the model stays loaded after the answer, e.g. "10m"
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0)] = 600.0  # loading a large model can take minutes
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024


class OllamaEngine:
    name = "ollama"
    settings_model = OllamaSettings
    edits_files = False  # no tools: in an isolated run its answer is the edit (answer_edits.py)
    paces_requests = True  # each request waits at its account's gate here (engines/_http/gating.py)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(OllamaSettings, settings)
        self._pool = HttpPool()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return TaskResult(
                error=TaskError(kind=ErrorKind.BAD_REQUEST, message=f"invalid ollama options: {error}")
            )
        model = request.model or settings.model
        if not model:
            message = "no model: use an engine spec like `ollama:llama3.2`"
            return TaskResult(error=TaskError(kind=ErrorKind.BAD_REQUEST, message=message))
        key = settings.api_key.get_secret_value() if settings.api_key else None
        redact = Redactor([key])
        scrubbed = redact.stream(emit)
        call = _Chat(settings, model, request, scrubbed)
        host = _host(settings)
        try:
            result = await call.run(self._pool.client(), host, key)
        except httpx.TimeoutException:
            result = TaskResult(
                error=TaskError(kind=ErrorKind.TIMEOUT, message=f"no answer from {host} in time")
            )
        except httpx.TransportError as error:
            message = f"cannot reach Ollama at {host} (is `ollama serve` running?): {error!r}"
            result = TaskResult(error=TaskError(kind=ErrorKind.TRANSIENT, message=message))
        except ValidationError as error:
            result = TaskResult(
                error=TaskError(kind=ErrorKind.TRANSIENT, message=f"a malformed stream line: {error}")
            )
        scrubbed.flush()
        if result.error is not None:
            result.error.message = redact(result.error.message)
        result.text = redact(result.text)  # a proxy, or a model, may echo the key
        result.duration_s = time.monotonic() - started
        return result

    async def status(self) -> EngineStatus:
        settings = self._settings.default
        host = _host(settings)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        try:
            version = await self._pool.client().get(f"{host}/api/version", headers=_headers(key), timeout=5.0)
            tags = await self._pool.client().get(f"{host}/api/tags", headers=_headers(key), timeout=5.0)
            tags.raise_for_status()
            listed = _Tags.model_validate_json(tags.content)
        except (httpx.HTTPError, ValidationError) as error:
            return EngineStatus(
                name=self.name,
                available=False,
                detail=f"cannot reach Ollama at {host}: {error!r}; start it with `ollama serve`",
            )
        number = _Version.model_validate_json(version.content).version if version.is_success else None
        names = [entry.name for entry in listed.models]
        if settings.model and not _has_model(names, settings.model):
            return EngineStatus(
                name=self.name,
                available=False,
                version=number,
                detail=f"{settings.model} is not pulled: run `ollama pull {settings.model}`",
            )
        detail = (
            f"{host}: {len(names)} models ({', '.join(names[:5])})" if names else f"{host}: no models pulled"
        )
        return EngineStatus(name=self.name, available=True, version=number, detail=detail)

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        return {"model": model or settings.model or "", "endpoint": _host(settings)}

    async def aclose(self) -> None:
        await self._pool.aclose()


def _host(settings: OllamaSettings) -> str:
    """The server's URL; OLLAMA_HOST may be a bare `host:port` and a listening 0.0.0.0."""
    host = settings.base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
    if "://" not in host:
        host = f"http://{host}"
    return host.replace("://0.0.0.0", "://127.0.0.1").rstrip("/")


def _headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _has_model(names: list[str], model: str) -> bool:
    return model in names or f"{model}:latest" in names


# -- the wire: only the fields we read ---------------------------------------------------------


class _Message(BaseModel):
    content: str = ""


class _ChatLine(BaseModel):
    message: _Message | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int = 0
    eval_count: int = 0
    error: str | None = None


class _ErrorBody(BaseModel):
    error: str


class _Tag(BaseModel):
    name: str


class _Tags(BaseModel):
    models: list[_Tag] = Field(default_factory=list)


class _Version(BaseModel):
    version: str | None = None


class _Chat:
    """One attempt: send the chat request, read NDJSON lines until `done`, and build the result."""

    def __init__(self, settings: OllamaSettings, model: str, request: EngineRequest, emit: Emit) -> None:
        self.settings, self.model, self.request, self.emit = settings, model, request, emit
        self.prices = PriceTable(settings.prices)
        self.text: list[str] = []
        self.size = 0
        self.usage = Usage()

    def body(self) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.settings.system}] if self.settings.system else []
        messages.append({"role": "user", "content": self.request.prompt})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if self.settings.options:
            body["options"] = self.settings.options
        if self.settings.keep_alive is not None:
            body["keep_alive"] = self.settings.keep_alive
        if self.request.options.output_schema is not None:
            body["format"] = self.request.options.output_schema  # Ollama constrains decoding to the schema
        return body

    async def run(self, client: httpx.AsyncClient, host: str, key: str | None) -> TaskResult:
        timeout = httpx.Timeout(self.settings.read_timeout_s, connect=self.settings.connect_timeout_s)
        estimate = estimate_tokens(self.settings.system, self.request.prompt)
        async with (
            paced("ollama", host, key, self.settings, input_tokens=estimate) as gate,
            client.stream(
                "POST", f"{host}/api/chat", json=self.body(), headers=_headers(key), timeout=timeout
            ) as response,
        ):
            if response.status_code >= 400:
                error = await self._http_failure(response)
                refused = error.kind is ErrorKind.RATE_LIMITED
                gate.observe(
                    response.headers, response.status_code, retry_after_s=error.retry_after, refused=refused
                )
                return TaskResult(error=error)
            gate.observe(response.headers, response.status_code)
            async for raw in response.aiter_lines():
                if not raw.strip():
                    continue
                line = _ChatLine.model_validate_json(raw)
                if line.error is not None:
                    return self._result(TaskError(kind=ErrorKind.TRANSIENT, message=f"ollama: {line.error}"))
                if line.message is not None:
                    self._add_text(line.message.content)
                if line.done:
                    self.usage = self.prices.usage(self.model, line.prompt_eval_count, line.eval_count)
                    self.emit(UsageReport(self.usage))
                    gate.settle(self.usage.input_tokens, self.usage.output_tokens)
                    return self._result(None)
        return self._result(
            TaskError(kind=ErrorKind.TRANSIENT, message="the stream ended before the answer was done")
        )

    def _add_text(self, text: str) -> None:
        room = self.settings.max_output_bytes - self.size
        if not text or room <= 0:
            return
        text = text.encode()[:room].decode(errors="ignore")
        self.size += len(text.encode())
        self.text.append(text)
        self.emit(TextDelta(text))

    def _result(self, error: TaskError | None) -> TaskResult:
        text = "".join(self.text)
        if error is not None or self.request.options.output_schema is None:
            return TaskResult(text=text, usage=self.usage, error=error)
        try:
            structured = json.loads(text)
        except ValueError as problem:
            message = f"the answer is not the JSON the output schema asks for: {problem}"
            return TaskResult(
                text=text, usage=self.usage, error=TaskError(kind=ErrorKind.EXECUTION, message=message)
            )
        return TaskResult(text=text, structured=structured, usage=self.usage)

    async def _http_failure(self, response: httpx.Response) -> TaskError:
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > _MAX_ERROR_BODY:
                break
        try:
            detail = _ErrorBody.model_validate_json(raw).error
        except ValidationError:
            detail = raw[:500].decode("utf-8", errors="replace").strip() or "no detail"
        if response.status_code == 404 and "not found" in detail:
            detail += f"; run `ollama pull {self.model}`"
        error = error_from_response(response, detail)
        if error.kind is ErrorKind.RATE_LIMITED:
            self.emit(RateLimitSignal(error.retry_after))
        return error
