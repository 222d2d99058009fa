"""The copilot engine: GitHub Copilot's CLI in prompt mode, read through `--output-format json`.

Each attempt runs `copilot --prompt=... --output-format json` in the task's workdir with its own
`COPILOT_HOME`. Tokens are not in the event stream; they come from the file `--usage-output-file`
writes when the CLI exits. With `base_url` set the CLI runs offline against that provider
("bring your own key": COPILOT_OFFLINE, COPILOT_PROVIDER_*), so no GitHub login is needed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field, SecretStr, ValidationError

from parallelai.engines._cli.attempt import attempt_home, finish, prompt_argument, prompt_stdin, run_cli
from parallelai.engines._cli.common import (
    VersionCache,
    cli_source,
    copy_files,
    create_attempt_home,
    failed,
    last_line,
    not_found,
    not_installed,
    resolve_binary,
    with_version,
)
from parallelai.engines._cli.process import ProcessOutcome, child_env
from parallelai.engines._cli.settings import HomeCliSettings
from parallelai.engines._http.errors import kind_for_status
from parallelai.engines._pricing import OPENAI_PRICES, PriceTable
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

INSTALL_HINT = "install it with `npm install -g @github/copilot` or set `binary` to its path"
TOKEN_ENV = ("COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN")
PASS_ENV = (*TOKEN_ENV, "GH_HOST", "COPILOT_GH_HOST")
INHERITED_FILES = ("config.json", "mcp-config.json")  # the user's login and settings
USAGE_FILE = "usage.json"
_KIND_BY_TYPE = {
    "rate_limit": ErrorKind.RATE_LIMITED,
    "authentication": ErrorKind.AUTH,
    "quota": ErrorKind.SPEND_LIMIT,
}
_DETAIL_CHARS = 300


class CopilotSettings(HomeCliSettings):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    binary: str = "copilot"
    allow_all_tools: bool = False  # else only `allow_tools` run; others are refused, never asked about
    allow_tools: list[str] = Field(default_factory=list)  # e.g. "write", "shell(git:*)"
    deny_tools: list[str] = Field(default_factory=list)  # wins over the allowed ones
    allow_all_paths: bool = False
    github_token: SecretStr | None = None  # else $COPILOT_GITHUB_TOKEN / $GH_TOKEN / the user's login
    # Bring your own key: any OpenAI-compatible (or Azure, Anthropic) endpoint instead of GitHub's.
    base_url: str | None = None
    provider_type: Literal["openai", "azure", "anthropic"] = "openai"
    wire_api: Literal["completions", "responses"] | None = None
    api_key: SecretStr | None = None
    offline: bool = True  # with `base_url`: no GitHub auth, telemetry, web tools or updates
    # `prices` price BYOK tokens; `inherit_home_from` defaults to $COPILOT_HOME or ~/.copilot.


class CopilotEngine:
    name = "copilot"
    settings_model = CopilotSettings
    edits_files = True  # the CLI edits files with its tools

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(CopilotSettings, settings)
        self._versions = VersionCache()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return failed(ErrorKind.BAD_REQUEST, f"invalid copilot options: {error}")
        binary = resolve_binary(settings.binary)
        if binary is None:
            return not_found("copilot", settings.binary, INSTALL_HINT)
        model = request.model or settings.model
        async with attempt_home(settings, lambda: _prepare_home(settings, request)) as home:
            env = child_env(
                {**_environment(settings, model), **settings.env, "COPILOT_HOME": str(home)},
                [*PASS_ENV, *settings.pass_env],
            )
            redact = Redactor.for_env(env)
            reader = _StreamReader(redact.emit(emit))
            run = await run_cli(
                "copilot",
                [binary, *build_arguments(settings, request, home)],
                request=request,
                settings=settings,
                env=env,
                redact=redact,
                on_line=reader.feed,
                stdin=prompt_stdin(request.prompt),
            )
            if run.start_failure is not None:
                return run.start_failure
            usage = await anyio.to_thread.run_sync(
                _read_usage, home / USAGE_FILE, PriceTable(OPENAI_PRICES, settings.prices)
            )
        if usage is not None:
            reader.emit(UsageReport(usage))
        result = reader.outcome(run.outcome, usage or Usage())
        finished = finish(result, name="copilot", request=request, run=run, redact=redact, started=started)
        return finished.model_copy(update={"session_id": reader.session_id})

    def ready(self) -> EngineStatus:
        """Installed and signed in? From PATH, the environment and credential files: nothing is started."""
        settings = self._settings.default
        binary = resolve_binary(settings.binary)
        if binary is None:
            return not_installed(self.name, settings.binary, INSTALL_HINT)
        inherited = _inherit_dir(settings)
        logged_in = inherited is not None and (inherited / "config.json").is_file()
        has_token = settings.github_token is not None or any(os.environ.get(name) for name in TOKEN_ENV)
        if not (settings.base_url or logged_in or has_token):
            return EngineStatus(
                name=self.name,
                available=False,
                detail="no credentials: set COPILOT_GITHUB_TOKEN, run `copilot login`, "
                "or set `base_url` (bring your own key)",
            )
        return EngineStatus(name=self.name, available=True, detail=f"runs {binary}")

    async def status(self) -> EngineStatus:
        return await with_version(self.ready(), self._settings.default.binary, self._versions)

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        endpoint = settings.base_url or os.environ.get("COPILOT_PROVIDER_BASE_URL")
        return await cli_source(settings.binary, model or settings.model, endpoint)

    async def aclose(self) -> None:
        return None


def build_arguments(settings: CopilotSettings, request: EngineRequest, home: Path) -> list[str]:
    """Arguments for one attempt; `--prompt=` keeps a prompt that starts with "-" from being read as a flag."""
    args = [
        *prompt_argument(request.prompt),
        "--output-format",
        "json",
        "--no-auto-update",
        "--no-ask-user",
        "--usage-output-file",
        str(home / USAGE_FILE),
        "--log-dir",
        str(home / "logs"),
    ]
    model = request.model or settings.model
    if model:
        args += ["--model", model]
    if settings.allow_all_tools:
        args.append("--allow-all-tools")
    if settings.allow_all_paths:
        args.append("--allow-all-paths")
    # `--flag=value`, one per tool: the flags are variadic and would swallow what follows them.
    args += [f"--allow-tool={tool}" for tool in settings.allow_tools]
    args += [f"--deny-tool={tool}" for tool in settings.deny_tools]
    return [*args, *settings.extra_args]


def _environment(settings: CopilotSettings, model: str | None) -> dict[str, str]:
    env = {"COPILOT_AUTO_UPDATE": "false", "NO_COLOR": "1"}
    if settings.github_token is not None:
        env["COPILOT_GITHUB_TOKEN"] = settings.github_token.get_secret_value()
    if settings.base_url:
        env["COPILOT_PROVIDER_BASE_URL"] = settings.base_url
        env["COPILOT_PROVIDER_TYPE"] = settings.provider_type
        if settings.offline:
            env["COPILOT_OFFLINE"] = "true"
        if settings.wire_api:
            env["COPILOT_PROVIDER_WIRE_API"] = settings.wire_api
        if settings.api_key is not None:
            env["COPILOT_PROVIDER_API_KEY"] = settings.api_key.get_secret_value()
        if model:
            env["COPILOT_MODEL"] = model  # BYOK needs a model name to send
    return env


def _prepare_home(settings: CopilotSettings, request: EngineRequest) -> Path:
    home = create_attempt_home("copilot", request.task_id, request.attempt, settings.home_root)
    if (inherited := _inherit_dir(settings)) is not None:
        copy_files(inherited, home, INHERITED_FILES)
    return home


def _inherit_dir(settings: CopilotSettings) -> Path | None:
    return settings.inherit_dir("COPILOT_HOME", Path.home() / ".copilot")


# -- the usage file ------------------------------------------------------------------------------


class _Tokens(BaseModel):
    inputTokens: int = 0
    outputTokens: int = 0


class _ModelMetrics(BaseModel):
    usage: _Tokens = Field(default_factory=_Tokens)


class _UsageFile(BaseModel):
    modelMetrics: dict[str, _ModelMetrics] = Field(default_factory=dict)


def _read_usage(path: Path, prices: PriceTable) -> Usage | None:
    try:
        report = _UsageFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None  # the CLI was killed before writing it
    total = Usage()
    for model, metrics in report.modelMetrics.items():
        total = total + prices.usage(model, metrics.usage.inputTokens, metrics.usage.outputTokens)
    return total


# -- the stream: only the fields we read; unknown event types pass by untouched ------------------


class _ToolOutput(BaseModel):
    content: str = ""


class _Data(BaseModel):
    content: str | None = None  # assistant.message
    deltaContent: str | None = None
    toolName: str | None = None
    toolCallId: str | None = None
    arguments: Any = None
    success: bool | None = None  # tool.execution_complete
    result: _ToolOutput | None = None
    errorType: str | None = None
    message: str | None = None  # session.error, session.warning
    statusCode: int | None = None


class _Event(BaseModel):
    type: str
    data: _Data = Field(default_factory=_Data)
    exitCode: int | None = None
    sessionId: str | None = None


class _StreamReader:
    """Turns copilot's JSON lines into engine events and, at the end, one result."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.session_id: str | None = None
        self.last_message = ""  # the answer; earlier messages were progress notes, already emitted
        self.streamed = False  # deltas already carried the text of the current message
        self.tools: dict[str, str] = {}
        self.error: _Data | None = None
        self.exit_code: int | None = None

    def feed(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            event = _Event.model_validate_json(line)
        except ValidationError:
            return
        data = event.data
        if event.type == "assistant.message_delta" and data.deltaContent:
            self.streamed = True
            self.emit(TextDelta(data.deltaContent))
        elif event.type == "assistant.message":
            if data.content:
                self.last_message = data.content
                if not self.streamed:
                    self.emit(TextDelta(data.content))
            self.streamed = False
        elif event.type == "tool.execution_start":
            self.tools[data.toolCallId or ""] = data.toolName or "tool"
            detail = f"{data.toolName} {json.dumps(data.arguments)}"
            self.emit(Activity("tool_call", detail[:_DETAIL_CHARS]))
        elif event.type == "tool.execution_complete":
            name = self.tools.get(data.toolCallId or "", "tool")
            verdict = "ok" if data.success else "failed"
            detail = f"{name} {verdict}: {data.result.content if data.result else ''}"
            self.emit(Activity("tool_result", detail[:_DETAIL_CHARS]))
        elif event.type == "session.warning" and data.message:
            self.emit(Activity("warning", data.message[:_DETAIL_CHARS]))
        elif event.type == "session.error":
            self.error = data
        elif event.type == "result":
            self.exit_code, self.session_id = event.exitCode, event.sessionId

    def outcome(self, process: ProcessOutcome | None, usage: Usage) -> TaskResult:
        text = self.last_message
        if process is None:
            return TaskResult(text=text, usage=usage)
        if self.error is not None:
            return TaskResult(text=text, usage=usage, error=self._session_error(self.error))
        if self.exit_code == 0 and process.returncode == 0:
            return TaskResult(text=text, usage=usage)
        reason = f"exit code {process.returncode}: {last_line(process.stderr)}"
        return TaskResult(
            text=text, usage=usage, error=TaskError(kind=ErrorKind.EXECUTION, message=f"copilot: {reason}")
        )

    def _session_error(self, data: _Data) -> TaskError:
        if data.statusCode is not None:
            kind = kind_for_status(data.statusCode)
        else:
            kind = _KIND_BY_TYPE.get(data.errorType or "", ErrorKind.EXECUTION)
        if kind is ErrorKind.RATE_LIMITED:
            self.emit(RateLimitSignal(None))  # the CLI already waited out the server's retry-after
        message = f"copilot: {data.errorType or 'error'}: {data.message or 'no detail'}"
        return TaskError(kind=kind, message=message[:1000])
