"""The cursor engine: Cursor's agent CLI (`cursor-agent`, or `agent`) in print mode, read as stream-json.

The CLI is known to keep running after it has written its result, so every attempt runs under a
timeout, and once the result line is in the process tree gets `exit_grace_s` to exit before it is
killed and the result is kept. Its CLI is in no package registry: the tests drive a fake executable
that writes the documented stream.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from parallelai.engines._cli.common import VersionCache, cli_source, resolve_binary, with_version
from parallelai.engines._cli.cursor_stream import (
    AssistantLine,
    ResultLine,
    SystemLine,
    ToolCallLine,
    parse_line,
)
from parallelai.engines._cli.process import ProcessOutcome, child_env, run_process
from parallelai.engines._redaction import Redactor
from parallelai.engines._settings import SettingsSource
from parallelai.engines.base import Activity, Emit, EngineRequest, EngineStatus, TextDelta, UsageReport
from parallelai.models import ErrorKind, TaskError, TaskResult, Usage

INSTALL_HINT = "install it with `curl https://cursor.com/install -fsS | bash` or set `binary` to its path"
PASS_ENV = ("CURSOR_API_KEY",)
# The CLI reports failures as text on stderr; these say what kind of failure it was.
_STDERR_KINDS = (
    (
        re.compile(r"rate.?limit|too many requests|\b429\b|resource.?exhausted", re.IGNORECASE),
        ErrorKind.RATE_LIMITED,
    ),
    (re.compile(r"usage limit|spend limit|quota", re.IGNORECASE), ErrorKind.SPEND_LIMIT),
    (re.compile(r"unauthori[sz]ed|authenticat|api key|\blog ?in\b|\b401\b", re.IGNORECASE), ErrorKind.AUTH),
    (
        re.compile(r"overloaded|\b5\d\d\b|unavailable|network|ECONNRESET|ETIMEDOUT", re.IGNORECASE),
        ErrorKind.TRANSIENT,
    ),
)
_DETAIL_CHARS = 300


class CursorSettings(BaseModel):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid")

    binary: str = "cursor-agent"  # newer installs name it `agent`
    model: str | None = None  # the engine spec's model (`cursor:gpt-5`) wins over this
    force: bool = False  # `--force`: run commands and edits without asking (unless denied by rules)
    resume: str | None = None  # a session id from an earlier TaskResult.session_id
    api_key: SecretStr | None = None  # else $CURSOR_API_KEY, else the CLI's own login
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: list[str] = Field(default_factory=list)
    timeout_s: Annotated[float, Field(gt=0)] = 1800.0  # always applied; a task's shorter timeout wins
    exit_grace_s: Annotated[float, Field(ge=0)] = 3.0  # after the result line, before the tree is killed
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    kill_grace_s: Annotated[float, Field(ge=0)] = 2.0


class CursorEngine:
    name = "cursor"
    settings_model = CursorSettings
    edits_files = True  # the CLI edits files with its tools

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(CursorSettings, settings)
        self._versions = VersionCache()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return _failed(ErrorKind.BAD_REQUEST, f"invalid cursor options: {error}")
        binary = resolve_binary(settings.binary)
        if binary is None:
            return _failed(
                ErrorKind.BAD_REQUEST, f"cursor: {settings.binary!r} was not found; {INSTALL_HINT}"
            )
        env = _environment(settings)
        redact = Redactor.for_env(env, [settings.api_key.get_secret_value() if settings.api_key else None])
        reader = _StreamReader(redact.emit(emit))
        argv = [binary, *build_arguments(settings, request)]
        timeout = min(request.options.timeout or settings.timeout_s, settings.timeout_s)
        outcome: ProcessOutcome | None = None

        start_error: OSError | None = None

        async def run_cli() -> None:
            nonlocal outcome, start_error
            try:
                outcome = await run_process(
                    argv,
                    cwd=request.workdir,
                    env=env,
                    on_line=reader.feed,
                    max_output_bytes=settings.max_output_bytes,
                    kill_grace_s=settings.kill_grace_s,
                )
            except OSError as error:  # kept here: out of a task group it would come wrapped in a group
                start_error = error
            group.cancel_scope.cancel()

        async def stop_lingering_cli() -> None:
            await reader.finished.wait()
            await anyio.sleep(settings.exit_grace_s)
            group.cancel_scope.cancel()  # run_process kills the tree as it unwinds

        with anyio.move_on_after(timeout) as timer:
            async with anyio.create_task_group() as group:
                group.start_soon(run_cli)
                group.start_soon(stop_lingering_cli)
        if start_error is not None:
            return _failed(ErrorKind.BAD_REQUEST, redact(f"cursor: cannot start {binary}: {start_error}"))
        result = reader.outcome(outcome, timed_out=timer.cancelled_caught, timeout=timeout)
        failure = (
            result.error.model_copy(update={"message": redact(result.error.message)})
            if result.error
            else None
        )
        return result.model_copy(
            update={"text": redact(result.text), "error": failure, "duration_s": time.monotonic() - started}
        )

    def ready(self) -> EngineStatus:
        """Installed and signed in? From PATH, the environment and credential files: nothing is started."""
        settings = self._settings.default
        binary = resolve_binary(settings.binary)
        if binary is None:
            return EngineStatus(
                name=self.name, available=False, detail=f"{settings.binary!r} not found: {INSTALL_HINT}"
            )
        has_key = settings.api_key is not None or bool(child_env(passthrough=PASS_ENV).get("CURSOR_API_KEY"))
        detail = f"runs {binary}" + (
            "" if has_key else "; no CURSOR_API_KEY, so it relies on `cursor-agent login`"
        )
        return EngineStatus(name=self.name, available=True, detail=detail)

    async def status(self) -> EngineStatus:
        return await with_version(self.ready(), self._settings.default.binary, self._versions)

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        return await cli_source(settings.binary, model or settings.model, None)

    async def aclose(self) -> None:
        return None


def build_arguments(settings: CursorSettings, request: EngineRequest) -> list[str]:
    """The CLI arguments for one attempt; the prompt is the last one (the CLI takes it as an argument)."""
    args = ["-p", "--output-format", "stream-json"]
    model = request.model or settings.model
    if model:
        args += ["--model", model]
    if settings.force:
        args.append("--force")
    if settings.resume:
        args += ["--resume", settings.resume]
    # "--" ends the options, so a prompt starting with "-" is still the prompt.
    return [*args, *settings.extra_args, "--", request.prompt]


class _StreamReader:
    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.finished = anyio.Event()
        self.session_id: str | None = None
        self.result: ResultLine | None = None
        self._text: list[str] = []

    def feed(self, raw: str) -> None:
        line = parse_line(raw)
        if isinstance(line, SystemLine) and line.subtype == "init":
            self.session_id = line.session_id
            self._emit(Activity("session", f"cursor session {line.session_id} with model {line.model}"))
        elif isinstance(line, AssistantLine):
            text = line.message.text
            if text:
                self._text.append(text)
                self._emit(TextDelta(text))
        elif isinstance(line, ToolCallLine):
            if line.subtype == "started":
                self._emit(Activity("tool_call", line.describe()[:_DETAIL_CHARS]))
            elif line.subtype == "completed":
                kind = "tool_error" if line.failed() else "tool_result"
                self._emit(Activity(kind, line.describe()[:_DETAIL_CHARS]))
        elif isinstance(line, ResultLine):
            self.result = line
            self.session_id = line.session_id or self.session_id
            self.finished.set()

    def outcome(self, process: ProcessOutcome | None, *, timed_out: bool, timeout: float) -> TaskResult:
        result = self.result
        if result is None:
            return TaskResult(text="".join(self._text), session_id=self.session_id,
                              error=_missing_result(process, timed_out, timeout))  # fmt: skip
        usage = Usage()
        if result.usage is not None:
            usage = Usage(input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens)
            self._emit(UsageReport(usage))
        error = None
        if result.is_error or result.subtype not in ("", "success"):
            detail = (result.result or result.subtype or "no detail")[:_DETAIL_CHARS]
            error = TaskError(kind=_kind_from_text(detail), message=f"cursor: {detail}")
        text = result.result if result.result is not None else "".join(self._text)
        return TaskResult(text=text, usage=usage, session_id=self.session_id, error=error)


def _missing_result(process: ProcessOutcome | None, timed_out: bool, timeout: float) -> TaskError:
    if timed_out or process is None:
        return TaskError(kind=ErrorKind.TIMEOUT, message=f"cursor: no result after {timeout}s")
    lines = process.stderr.strip().splitlines()
    detail = lines[-1][:_DETAIL_CHARS] if lines else "nothing on stderr"
    kind = _kind_from_text(process.stderr) if process.returncode != 0 else ErrorKind.EXECUTION
    return TaskError(
        kind=kind, message=f"cursor exited with code {process.returncode} without a result: {detail}"
    )


def _kind_from_text(text: str) -> ErrorKind:
    for pattern, kind in _STDERR_KINDS:
        if pattern.search(text):
            return kind
    return ErrorKind.EXECUTION


def _environment(settings: CursorSettings) -> dict[str, str]:
    extra = dict(settings.env)
    if settings.api_key is not None:
        extra["CURSOR_API_KEY"] = settings.api_key.get_secret_value()
    return child_env(extra, [*PASS_ENV, *settings.pass_env])


def _failed(kind: ErrorKind, message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message))
