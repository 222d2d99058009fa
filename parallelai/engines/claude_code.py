"""The claude-code engine: Claude Code's CLI in print mode, read through its stream-json output.

Each attempt runs `claude -p --output-format stream-json --verbose` in the task's workdir with its
own `CLAUDE_CONFIG_DIR`, the prompt on stdin (a pipe: no argv length limit, and the CLI needs a
pipe or /dev/null there). The `result` line decides the outcome; without one the attempt failed.

Why over 400 lines: its settings are the CLI's many documented flags (tools, permissions, MCP
servers, budgets), each with its help text; reading the stream (`_cli/claude_stream.py`) and the
config dir (`_cli/claude_config.py`) are apart already.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from parallelai.engines._cli.claude_config import create_task_config_dir, has_login, user_config_dir
from parallelai.engines._cli.claude_stream import (
    AssistantLine,
    RateLimitLine,
    ResultLine,
    StreamEventLine,
    SystemLine,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserLine,
    parse_line,
)
from parallelai.engines._cli.common import VersionCache, cli_source, resolve_binary
from parallelai.engines._cli.launch import LaunchStagger
from parallelai.engines._cli.process import ProcessOutcome, child_env, run_process
from parallelai.engines._http.anthropic_errors import anthropic_error_kind
from parallelai.engines._redaction import Redactor
from parallelai.engines._settings import SettingsSource
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
from parallelai.paths import state_dir
from parallelai.ratelimits.account import ANTHROPIC_API, Account, account_for

INSTALL_HINT = "install it with `npm install -g @anthropic-ai/claude-code` or set `binary` to its path"
# The CLI's own credentials and provider switches; everything else comes from the allow-list.
PASS_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "CLOUD_ML_REGION",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
CREDENTIAL_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)
RESUME_CONTEXT_KEY = "resume_session_id"  # EngineRequest.context: continue an earlier task's session
_DETAIL_CHARS = 300


class ClaudeCodeSettings(BaseModel):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid")

    binary: str = "claude"
    model: str | None = None  # the engine spec's model (`claude-code:opus`) wins over this
    max_turns: Annotated[int, Field(gt=0)] | None = None
    allowed_tools: list[str] = Field(default_factory=list)
    disallowed_tools: list[str] = Field(default_factory=list)
    permission_mode: str | None = None  # acceptEdits, bypassPermissions, default, dontAsk, plan, auto
    mcp_config: list[str] = Field(default_factory=list)  # files or JSON strings
    strict_mcp_config: bool = False
    append_system_prompt: str | None = None
    resume: str | None = None  # a session id from an earlier TaskResult.session_id
    fork_session: bool = False
    json_schema: dict[str, Any] | None = None  # else the task's `output_schema`
    max_budget_usd: Annotated[float, Field(gt=0)] | None = None
    partial_messages: bool = False  # stream text as it is generated, not per message
    extra_args: list[str] = Field(default_factory=list)
    api_key: SecretStr | None = None  # else ANTHROPIC_API_KEY or the user's `claude login`
    base_url: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: list[str] = Field(default_factory=list)
    config_root: str | None = None  # per-task config dirs live here; default: the state dir
    inherit_config_from: str | None = None  # copy login/settings from here; default: ~/.claude; "" = none
    cli_max_retries: Annotated[int, Field(ge=0)] | None = None  # CLAUDE_CODE_MAX_RETRIES; 0 = fail fast
    sandbox: bool = False  # IS_SANDBOX=1: lets root use bypassPermissions inside a container
    essential_traffic_only: bool = True  # no telemetry, error reports or update checks from agents
    launch_interval_s: Annotated[float, Field(ge=0)] = 0.25
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    kill_grace_s: Annotated[float, Field(ge=0)] = 2.0
    version_timeout_s: Annotated[float, Field(gt=0)] = 10.0


class ClaudeCodeEngine:
    name = "claude-code"
    settings_model = ClaudeCodeSettings
    edits_files = True  # the CLI edits files with its tools

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(ClaudeCodeSettings, settings)
        self._stagger = LaunchStagger()
        self._versions = VersionCache()

    def rate_account(self, request: EngineRequest) -> Account | None:
        """The Anthropic account the CLI's requests go to: the one the `anthropic` engine paces too."""
        try:
            settings = self._settings.for_request(request)
        except ValidationError:
            return None  # `run` says what is wrong
        key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("ANTHROPIC_API_KEY")
        endpoint = settings.base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_API
        return account_for("anthropic", endpoint, key)

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return _failed(ErrorKind.BAD_REQUEST, f"invalid claude-code options: {error}")
        binary = resolve_binary(settings.binary)
        if binary is None:
            return _failed(
                ErrorKind.BAD_REQUEST, f"claude-code: {settings.binary!r} was not found; {INSTALL_HINT}"
            )
        resume = settings.resume or _str_or_none(request.context.get(RESUME_CONTEXT_KEY))
        config_dir = await anyio.to_thread.run_sync(_config_dir_for, settings, request, resume)
        env = _environment(settings, config_dir)
        redact = Redactor.for_env(env, [settings.api_key.get_secret_value() if settings.api_key else None])
        reader = _StreamReader(redact.emit(emit), partial=settings.partial_messages)
        argv = [binary, *build_arguments(settings, request, resume)]
        await self._stagger.wait(settings.launch_interval_s)
        with anyio.move_on_after(request.options.timeout or float("inf")) as timer:
            try:
                outcome = await run_process(
                    argv,
                    cwd=request.workdir,
                    env=env,
                    stdin=request.prompt.encode(),
                    on_line=reader.feed,
                    max_output_bytes=settings.max_output_bytes,
                    kill_grace_s=settings.kill_grace_s,
                )
            except OSError as error:
                return _failed(ErrorKind.BAD_REQUEST, redact(f"claude-code: cannot start {binary}: {error}"))
        result = reader.outcome(None if timer.cancelled_caught else outcome)
        if timer.cancelled_caught:
            timeout = TaskError(
                kind=ErrorKind.TIMEOUT, message=f"claude-code: no result after {request.options.timeout}s"
            )
            result = result.model_copy(update={"error": timeout})
        return _scrubbed(result, redact).model_copy(update={"duration_s": time.monotonic() - started})

    def ready(self) -> EngineStatus:
        """Installed and signed in? From PATH, the environment and credential files: nothing is started."""
        settings = self._settings.default
        binary = resolve_binary(settings.binary)
        if binary is None:
            return EngineStatus(
                name=self.name, available=False, detail=f"{settings.binary!r} not found: {INSTALL_HINT}"
            )
        if not _has_credentials(settings):
            return EngineStatus(
                name=self.name,
                available=False,
                detail="no credentials: set ANTHROPIC_API_KEY (or `api_key` in the engine settings) or run `claude login`",
            )
        return EngineStatus(name=self.name, available=True, detail=f"runs {binary}")

    async def status(self) -> EngineStatus:
        found = self.ready()
        settings = self._settings.default
        binary = resolve_binary(settings.binary)
        if binary is None:
            return found
        return found.model_copy(
            update={"version": await self._versions.version(binary, settings.version_timeout_s)}
        )

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        endpoint = settings.base_url or os.environ.get("ANTHROPIC_BASE_URL")
        return await cli_source(settings.binary, model or settings.model, endpoint)

    async def aclose(self) -> None:
        return None


def build_arguments(settings: ClaudeCodeSettings, request: EngineRequest, resume: str | None) -> list[str]:
    """The CLI arguments for one attempt (the prompt goes to stdin, so none of these is positional)."""
    args = ["-p", "--output-format", "stream-json", "--verbose"]
    model = request.model or settings.model
    if model:
        args += ["--model", model]
    if settings.max_turns is not None:
        args += ["--max-turns", str(settings.max_turns)]
    # Variadic flags: each takes the following arguments up to the next flag.
    if settings.allowed_tools:
        args += ["--allowedTools", *settings.allowed_tools]
    if settings.disallowed_tools:
        args += ["--disallowedTools", *settings.disallowed_tools]
    permission_mode = settings.permission_mode or ("acceptEdits" if request.isolated else None)
    if permission_mode:
        args += ["--permission-mode", permission_mode]
    if settings.mcp_config:
        args += ["--mcp-config", *settings.mcp_config]
    if settings.strict_mcp_config:
        args.append("--strict-mcp-config")
    if settings.append_system_prompt:
        args += ["--append-system-prompt", settings.append_system_prompt]
    if resume:
        args += ["--resume", resume]
        if settings.fork_session:
            args.append("--fork-session")
    schema = settings.json_schema or request.options.output_schema
    if schema is not None:
        args += ["--json-schema", json.dumps(schema)]
    if settings.max_budget_usd is not None:
        args += ["--max-budget-usd", str(settings.max_budget_usd)]
    if settings.partial_messages:
        args.append("--include-partial-messages")
    return [*args, *settings.extra_args]


class _StreamReader:
    """Turns stream-json lines into events as they come, and the result line into a TaskResult."""

    def __init__(self, emit: Emit, *, partial: bool) -> None:
        self._emit = emit
        self._partial = partial
        self.session_id: str | None = None
        self.result: ResultLine | None = None
        self._text: list[str] = []
        self._retry_after: float | None = None

    def feed(self, raw: str) -> None:
        line = parse_line(raw)
        if isinstance(line, SystemLine):
            self._on_system(line)
        elif isinstance(line, AssistantLine):
            self._on_assistant(line)
        elif isinstance(line, UserLine) and not isinstance(line.message.content, str):
            for block in line.message.content:
                if isinstance(block, ToolResultBlock):
                    kind = "tool_error" if block.is_error else "tool_result"
                    self._emit(Activity(kind, _short(block.text)))
        elif isinstance(line, StreamEventLine):
            delta = line.event.delta
            if self._partial and delta is not None and delta.type == "text_delta" and delta.text:
                self._emit(TextDelta(delta.text))
        elif isinstance(line, RateLimitLine):
            info = line.rate_limit_info
            if info.status == "rejected":
                wait = max(info.resets_at - time.time(), 0.0) if info.resets_at is not None else None
                self._retry_after = wait
                self._emit(RateLimitSignal(wait))
        elif isinstance(line, ResultLine):
            self.result = line
            self.session_id = line.session_id or self.session_id

    def _on_system(self, line: SystemLine) -> None:
        if line.subtype == "init":
            self.session_id = line.session_id
            self._emit(Activity("session", f"claude session {line.session_id} with model {line.model}"))
        elif line.subtype == "api_retry":
            delay = line.retry_delay_ms / 1000 if line.retry_delay_ms is not None else None
            self._retry_after = delay
            if line.error_status in (429, 529):
                self._emit(RateLimitSignal(delay))
            self._emit(
                Activity(
                    "retry",
                    f"API error {line.error_status} ({line.error}); "
                    f"the CLI retries ({line.attempt}/{line.max_retries}) in {delay}s",
                )
            )

    def _on_assistant(self, line: AssistantLine) -> None:
        if isinstance(line.message.content, str):
            return
        for block in line.message.content:
            if isinstance(block, TextBlock) and line.error is None:
                self._text.append(block.text)
                if not self._partial:
                    self._emit(TextDelta(block.text))
            elif isinstance(block, ToolUseBlock):
                self._emit(Activity("tool_call", _short(f"{block.name} {json.dumps(block.input)}")))

    def outcome(self, process: ProcessOutcome | None) -> TaskResult:
        """The task's result: from the result line, or a failure explaining why there is none."""
        result = self.result
        if result is None:
            return TaskResult(
                text="".join(self._text), session_id=self.session_id, error=self._missing_result(process)
            )
        usage = Usage(
            input_tokens=result.usage.input_tokens
            + result.usage.cache_creation_input_tokens
            + result.usage.cache_read_input_tokens,
            output_tokens=result.usage.output_tokens,
            cost_usd=result.total_cost_usd,
        )
        self._emit(UsageReport(usage))
        for denial in result.permission_denials:
            self._emit(Activity("permission_denied", f"{denial.tool_name} was not allowed to run"))
        return TaskResult(
            text=result.result or "",
            structured=result.structured_output,
            usage=usage,
            session_id=self.session_id,
            error=self._result_error(result),
        )

    def _result_error(self, result: ResultLine) -> TaskError | None:
        # `is_error` wins over `subtype`: an API failure is reported as subtype "success".
        if not result.is_error and result.subtype == "success":
            return None
        detail = result.result or "; ".join(result.errors) or result.subtype or "no detail"
        if result.api_error_status is not None:
            kind = anthropic_error_kind(result.api_error_status, None, detail)
            message = f"claude-code: API error {result.api_error_status}: {detail}"
        else:
            kind = ErrorKind.EXECUTION
            message = f"claude-code: {result.subtype or 'error'}: {detail}"
        return TaskError(
            kind=kind, message=message[:1000], retry_after=self._retry_after if kind.retryable else None
        )

    def _missing_result(self, process: ProcessOutcome | None) -> TaskError:
        if process is None:
            return TaskError(kind=ErrorKind.TIMEOUT, message="claude-code: stopped before it wrote a result")
        stderr = process.stderr.strip().splitlines()
        why = stderr[-1][:_DETAIL_CHARS] if stderr else "nothing on stderr"
        if process.truncated:
            why = "its output went past max_output_bytes"
        return TaskError(
            kind=ErrorKind.EXECUTION,
            message=f"claude-code exited with code {process.returncode} without a result line: {why}",
        )


def _config_dir_for(settings: ClaudeCodeSettings, request: EngineRequest, resume: str | None) -> Path:
    root = Path(settings.config_root) if settings.config_root else state_dir() / "claude-code" / "config"
    return create_task_config_dir(
        root, request.task_id, request.attempt, inherit_from=_inherit_source(settings), resume_session=resume
    )


def _inherit_source(settings: ClaudeCodeSettings) -> Path | None:
    if settings.inherit_config_from is None:
        return user_config_dir()
    return Path(settings.inherit_config_from) if settings.inherit_config_from else None


def _environment(settings: ClaudeCodeSettings, config_dir: Path) -> dict[str, str]:
    extra = {"CLAUDE_CONFIG_DIR": str(config_dir), "DISABLE_AUTOUPDATER": "1"}
    if settings.essential_traffic_only:
        extra |= {
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        }
    if settings.api_key is not None:
        extra["ANTHROPIC_API_KEY"] = settings.api_key.get_secret_value()
    if settings.base_url:
        extra["ANTHROPIC_BASE_URL"] = settings.base_url
    if settings.cli_max_retries is not None:
        extra["CLAUDE_CODE_MAX_RETRIES"] = str(settings.cli_max_retries)
    if settings.sandbox:
        extra["IS_SANDBOX"] = "1"
    return child_env({**extra, **settings.env}, [*PASS_ENV, *settings.pass_env])


def _has_credentials(settings: ClaudeCodeSettings) -> bool:
    if settings.api_key is not None or any(name in settings.env for name in CREDENTIAL_ENV):
        return True
    if any(child_env(passthrough=CREDENTIAL_ENV).get(name) for name in CREDENTIAL_ENV):
        return True
    # On macOS `claude login` keeps the token in the keychain, where we cannot look.
    return sys.platform == "darwin" or has_login(_inherit_source(settings))


def _scrubbed(result: TaskResult, redact: Redactor) -> TaskResult:
    error = (
        result.error.model_copy(update={"message": redact(result.error.message)}) if result.error else None
    )
    return result.model_copy(update={"text": redact(result.text), "error": error})


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _failed(kind: ErrorKind, message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message))
