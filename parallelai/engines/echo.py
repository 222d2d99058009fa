"""The echo engine: a deterministic stand-in agent for dry runs, demos, tests and benchmarks."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from parallelai.engines._settings import SettingsSource
from parallelai.engines.base import Emit, EngineRequest, EngineStatus, RateLimitSignal, TextDelta, UsageReport
from parallelai.models import ErrorKind, TaskError, TaskResult, Usage

_Fraction = Annotated[float, Field(ge=0, le=1)]
# Bounds keep a typo (or a hostile body) from parking a task forever or filling memory: every
# number is finite, and the ranges are those documented in docs/security.md.
MAX_LATENCY_S = 3600.0
MAX_RETRY_AFTER_S = 3600.0
MAX_OUTPUT_SIZE = 16 * 1024 * 1024  # characters; an answer is held in memory and stored whole
MAX_COUNT = 1_000_000  # attempts, a per-minute limit, a concurrency limit
MAX_COST_PER_1K_TOKENS = 1000.0
_Seconds = Annotated[float, Field(ge=0, le=MAX_LATENCY_S)]
_Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]


class EchoSettings(BaseModel):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    latency: _Seconds = 0.0  # seconds per answer
    failure_rate: _Fraction = 0.0  # share of attempts that fail, chosen by a hash: reproducible
    fail_attempts: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0  # the first N attempts of every task fail
    failure_kind: ErrorKind = ErrorKind.TRANSIENT
    # hint attached to simulated failures
    retry_after: Annotated[float, Field(ge=0, le=MAX_RETRY_AFTER_S)] | None = None
    rate_limit_per_minute: _Count | None = None  # a simulated provider limit
    # A simulated provider that refuses (rate_limited, with `retry_after`) an attempt arriving
    # while this many of the engine instance's attempts are already being answered.
    max_concurrent: _Count | None = None
    # pad or cut the answer to N characters
    output_size: Annotated[int, Field(ge=0, le=MAX_OUTPUT_SIZE)] | None = None
    reply: str = "echo: {prompt}"
    cost_per_1k_tokens: Annotated[float, Field(ge=0, le=MAX_COST_PER_1K_TOKENS)] = 0.0
    hang: bool = False  # never answer: for timeout and cancel drills


class EchoEngine:
    name = "echo"
    settings_model = EchoSettings
    edits_files = False  # it only answers, like an API engine: its answer is the edit

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(EchoSettings, settings)
        # The simulated provider's window, shared by every task this engine instance runs.
        self._window_start = 0.0
        self._window_used = 0
        self._answering = 0  # attempts in flight, for `max_concurrent`

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        settings = self._settings.for_request(request)
        refused = self._rate_limited(settings)
        if refused is not None:
            emit(RateLimitSignal(refused))
            return TaskResult(
                error=TaskError(
                    kind=ErrorKind.RATE_LIMITED, message="simulated rate limit", retry_after=refused
                )
            )
        if settings.max_concurrent is not None and self._answering >= settings.max_concurrent:
            emit(RateLimitSignal(settings.retry_after))
            return TaskResult(
                error=TaskError(
                    kind=ErrorKind.RATE_LIMITED,
                    message=f"simulated concurrency limit: {settings.max_concurrent} at once",
                    retry_after=settings.retry_after,
                )
            )
        self._answering += 1
        try:
            return await self._answer(request, emit, settings, started)
        finally:
            self._answering -= 1

    async def _answer(
        self, request: EngineRequest, emit: Emit, settings: EchoSettings, started: float
    ) -> TaskResult:
        if settings.hang:
            await anyio.sleep_forever()
        if settings.latency:
            await anyio.sleep(settings.latency)
        if self._fails(settings, request):
            return TaskResult(
                duration_s=time.monotonic() - started,
                error=TaskError(
                    kind=settings.failure_kind,
                    message=f"simulated {settings.failure_kind} failure",
                    retry_after=settings.retry_after,
                ),
            )
        text = settings.reply.replace("{prompt}", request.prompt).replace("{task_id}", request.task_id)
        if settings.output_size is not None:
            text = (text * (settings.output_size // max(len(text), 1) + 1))[: settings.output_size]
        emit(TextDelta(text))
        input_tokens, output_tokens = _tokens(request.prompt), _tokens(text)
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=(input_tokens + output_tokens) / 1000 * settings.cost_per_1k_tokens,
        )
        emit(UsageReport(usage))
        return TaskResult(text=text, usage=usage, duration_s=time.monotonic() - started)

    async def status(self) -> EngineStatus:
        return EngineStatus(name=self.name, available=True, version="builtin", detail="always available")

    async def aclose(self) -> None:
        return None

    def _rate_limited(self, settings: EchoSettings) -> float | None:
        """Seconds to wait if this request would exceed the simulated per-minute limit."""
        if settings.rate_limit_per_minute is None:
            return None
        now = time.monotonic()
        if now - self._window_start >= 60.0:
            self._window_start, self._window_used = now, 0
        if self._window_used >= settings.rate_limit_per_minute:
            return round(60.0 - (now - self._window_start), 3)
        self._window_used += 1
        return None

    @staticmethod
    def _fails(settings: EchoSettings, request: EngineRequest) -> bool:
        if request.attempt <= settings.fail_attempts:
            return True
        if settings.failure_rate <= 0:
            return False
        digest = hashlib.blake2b(f"{request.task_id}/{request.attempt}".encode(), digest_size=4).digest()
        return int.from_bytes(digest) / 2**32 < settings.failure_rate


def _tokens(text: str) -> int:
    """A rough, stable token count (about four characters a token)."""
    return max(1, len(text) // 4) if text else 0
