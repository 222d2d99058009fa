"""The gemini-cli engine: Google's Gemini CLI in headless mode, read through `-o stream-json`.

Each attempt runs `gemini --prompt=... -o stream-json` (headless) in the task's workdir with its own
`GEMINI_CLI_HOME` (the CLI's notion of ~, where .gemini/settings.json lives) and TMPDIR (it
writes error reports there). With an API key the settings select "gemini-api-key" auth; with
`base_url` every request goes to that endpoint (GOOGLE_GEMINI_BASE_URL). The `result` line
decides the outcome; exit codes only explain a run that ended without one.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

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
from parallelai.engines._pricing import GEMINI_PRICES, PriceTable
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

INSTALL_HINT = "install it with `npm install -g @google/gemini-cli` or set `binary` to its path"
KEY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
PASS_ENV = (
    *KEY_ENV,
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
INHERITED_FILES = ("settings.json", "oauth_creds.json", "google_accounts.json", "installation_id")
# What the CLI's documented exit codes mean when no result line says more.
EXIT_CODES = {42: (ErrorKind.BAD_REQUEST, "input error"), 53: (ErrorKind.EXECUTION, "turn limit exceeded")}
_STATUS = re.compile(r"(?:\"code\":\s*|\bstatus:?\s*|\(HTTP\s)(\d{3})\b")
_RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?)s", re.IGNORECASE)
_QUOTA = re.compile(r"quota|RESOURCE_EXHAUSTED|rate limit", re.IGNORECASE)
_DETAIL_CHARS = 300


class GeminiCliSettings(HomeCliSettings):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    binary: str = "gemini"
    model: str | None = None  # the engine spec's model wins; without one the CLI spends a routing call
    approval_mode: Literal["default", "auto_edit", "yolo", "plan"] | None = (
        None  # default: no writes or shell
    )
    base_url: str | None = None  # GOOGLE_GEMINI_BASE_URL
    api_key: SecretStr | None = None  # else $GEMINI_API_KEY / $GOOGLE_API_KEY / the user's login
    trust_workspace: bool = True  # headless runs refuse an untrusted folder (exit 55) otherwise
    cli_max_attempts: Annotated[int, Field(ge=1, le=10)] | None = None  # the CLI's own retries (default 10)
    # `inherit_home_from` defaults to ~/.gemini.


class GeminiCliEngine:
    name = "gemini-cli"
    settings_model = GeminiCliSettings
    edits_files = True  # the CLI edits files with its tools

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(GeminiCliSettings, settings)
        self._versions = VersionCache()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return failed(ErrorKind.BAD_REQUEST, f"invalid gemini-cli options: {error}")
        binary = resolve_binary(settings.binary)
        if binary is None:
            return not_found("gemini-cli", settings.binary, INSTALL_HINT)
        key = _api_key(settings)
        model = request.model or settings.model
        async with attempt_home(settings, lambda: _prepare_home(settings, request, key is not None)) as home:
            env = child_env(
                {**_environment(settings, home, key), **settings.env}, [*PASS_ENV, *settings.pass_env]
            )
            redact = Redactor.for_env(env, [key])
            reader = _StreamReader(
                redact.emit(emit), PriceTable(GEMINI_PRICES, settings.prices), settings.max_output_bytes
            )
            run = await run_cli(
                "gemini-cli",
                [binary, *build_arguments(settings, request.prompt, model, isolated=request.isolated)],
                request=request,
                settings=settings,
                env=env,
                redact=redact,
                on_line=reader.feed,
                stdin=prompt_stdin(request.prompt),
            )
            if run.start_failure is not None:
                return run.start_failure
        result = finish(
            reader.outcome(run.outcome),
            name="gemini-cli",
            request=request,
            run=run,
            redact=redact,
            started=started,
            waited_for="result",
        )
        return result.model_copy(update={"session_id": reader.session_id})

    def ready(self) -> EngineStatus:
        """Installed and signed in? From PATH, the environment and credential files: nothing is started."""
        settings = self._settings.default
        binary = resolve_binary(settings.binary)
        if binary is None:
            return not_installed(self.name, settings.binary, INSTALL_HINT)
        inherited = _inherit_dir(settings)
        logged_in = inherited is not None and (inherited / "oauth_creds.json").is_file()
        vertex = bool(os.environ.get("GOOGLE_GENAI_USE_VERTEXAI"))
        if _api_key(settings) is None and not (logged_in or vertex):
            return EngineStatus(
                name=self.name,
                available=False,
                detail="no credentials: set GEMINI_API_KEY (or `api_key`) or log in with `gemini`",
            )
        return EngineStatus(name=self.name, available=True, detail=f"runs {binary}")

    async def status(self) -> EngineStatus:
        return await with_version(self.ready(), self._settings.default.binary, self._versions)

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        endpoint = settings.base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL")
        return await cli_source(settings.binary, model or settings.model, endpoint)

    async def aclose(self) -> None:
        return None


def build_arguments(
    settings: GeminiCliSettings, prompt: str, model: str | None, *, isolated: bool = False
) -> list[str]:
    """Arguments for one attempt; `--prompt=` keeps a prompt that starts with "-" from being read as a
    flag. In its own worktree (`isolated`) it may edit files without asking, unless told otherwise."""
    args = [*prompt_argument(prompt), "--output-format", "stream-json"]
    if model:
        args += ["--model", model]
    approval_mode = settings.approval_mode or ("auto_edit" if isolated else None)
    if approval_mode:
        args += ["--approval-mode", approval_mode]
    if settings.trust_workspace:
        args.append("--skip-trust")
    return [*args, *settings.extra_args]


def _api_key(settings: GeminiCliSettings) -> str | None:
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    return next((os.environ[name] for name in KEY_ENV if os.environ.get(name)), None)


def _environment(settings: GeminiCliSettings, home: Path, key: str | None) -> dict[str, str]:
    env = {"GEMINI_CLI_HOME": str(home), "TMPDIR": str(home / "tmp"), "NO_COLOR": "1"}
    if key is not None:
        env["GEMINI_API_KEY"] = key
    if settings.base_url:
        env["GOOGLE_GEMINI_BASE_URL"] = settings.base_url.rstrip("/")
    return env


def _prepare_home(settings: GeminiCliSettings, request: EngineRequest, api_key_auth: bool) -> Path:
    home = create_attempt_home("gemini-cli", request.task_id, request.attempt, settings.home_root)
    config = home / ".gemini"
    config.mkdir(mode=0o700)
    (home / "tmp").mkdir(mode=0o700)
    if (inherited := _inherit_dir(settings)) is not None:
        copy_files(inherited, config, INHERITED_FILES)
    (config / "settings.json").write_text(
        json.dumps(_settings_json(config / "settings.json", settings, api_key_auth))
    )
    return home


def _settings_json(path: Path, settings: GeminiCliSettings, api_key_auth: bool) -> dict[str, Any]:
    """The user's settings (if inherited) with what an unattended agent needs on top."""
    try:
        loaded = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        loaded = {}
    data: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    general = data.setdefault("general", {})
    general["disableAutoUpdate"] = True  # agents must not update the CLI under each other
    if settings.cli_max_attempts is not None:
        general["maxAttempts"] = settings.cli_max_attempts
    if api_key_auth:
        data.setdefault("security", {}).setdefault("auth", {})["selectedType"] = "gemini-api-key"
    return data


def _inherit_dir(settings: GeminiCliSettings) -> Path | None:
    return settings.inherit_dir(None, Path.home() / ".gemini")


# -- the stream: only the fields we read; unknown event types pass by untouched ------------------


class _Error(BaseModel):
    type: str | None = None
    message: str = ""


class _ModelStats(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class _Stats(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    models: dict[str, _ModelStats] = Field(default_factory=dict)


class _Event(BaseModel):
    type: str
    session_id: str | None = None  # init
    model: str | None = None  # init
    role: str | None = None  # message
    content: str | None = None
    delta: bool = False
    tool_name: str | None = None  # tool_use
    tool_id: str | None = None  # tool_use, tool_result
    parameters: Any = None
    status: str | None = None  # tool_result, result
    output: str | None = None  # tool_result
    error: _Error | None = None  # tool_result, result
    message: str | None = None  # error
    severity: str | None = None
    stats: _Stats | None = None  # result


class _StreamReader:
    """Turns gemini's JSON lines into engine events and, at the end, one result."""

    def __init__(self, emit: Emit, prices: PriceTable, max_bytes: int) -> None:
        self._emit, self._prices, self._max_bytes = emit, prices, max_bytes
        self.answer_bytes = 0
        self.answer: list[str] = []  # assistant text since the last tool call: the final answer
        self.tools: dict[str, str] = {}
        self.result: _Event | None = None
        self.session_id: str | None = None

    def feed(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            event = _Event.model_validate_json(line)
        except ValidationError:
            return
        if event.type == "init":
            self.session_id = event.session_id
            self._emit(Activity("session", f"gemini session {event.session_id} with model {event.model}"))
        elif event.type == "message" and event.role == "assistant" and event.content:
            self._emit(TextDelta(event.content))
            if self.answer_bytes < self._max_bytes:  # the stream is capped line by line, the answer here
                self.answer.append(event.content)
                self.answer_bytes += len(event.content.encode())
        elif event.type == "tool_use":
            self.answer, self.answer_bytes = [], 0
            self.tools[event.tool_id or ""] = event.tool_name or "tool"
            self._emit(
                Activity("tool_call", f"{event.tool_name} {json.dumps(event.parameters)}"[:_DETAIL_CHARS])
            )
        elif event.type == "tool_result":
            name = self.tools.get(event.tool_id or "", "tool")
            detail = event.error.message if event.error else (event.output or "")
            self._emit(Activity("tool_result", f"{name} {event.status}: {detail}"[:_DETAIL_CHARS]))
        elif event.type == "error" and event.message:
            self._emit(Activity("warning", event.message[:_DETAIL_CHARS]))
        elif event.type == "result":
            self.result = event

    def usage(self) -> Usage:
        stats = self.result.stats if self.result is not None else None
        if stats is None:
            return Usage()
        if not stats.models:
            return Usage(input_tokens=stats.input_tokens, output_tokens=stats.output_tokens)
        total = Usage()
        for model, used in stats.models.items():
            total = total + self._prices.usage(model, used.input_tokens, used.output_tokens)
        return total

    def outcome(self, process: ProcessOutcome | None) -> TaskResult:
        text, usage = "".join(self.answer), self.usage()
        if usage.total_tokens:
            self._emit(UsageReport(usage))
        if process is None:
            return TaskResult(text=text, usage=usage)
        result = self.result
        if result is not None and result.status == "success" and process.returncode == 0:
            return TaskResult(text=text, usage=usage)
        if result is not None and result.error is not None:
            return TaskResult(
                text=text, usage=usage, error=self._api_error(result.error.message, process.stderr)
            )
        kind, meaning = EXIT_CODES.get(process.returncode, (ErrorKind.EXECUTION, "no result"))
        message = f"gemini-cli: {meaning} (exit code {process.returncode}): {last_line(process.stderr)}"
        return TaskResult(text=text, usage=usage, error=TaskError(kind=kind, message=message))

    def _api_error(self, message: str, stderr: str) -> TaskError:
        status = _STATUS.search(message) or _STATUS.search(stderr)
        wait = _RETRY_AFTER.search(message)
        if status is not None:
            kind = kind_for_status(int(status.group(1)))
        elif wait is not None or _QUOTA.search(message):
            kind = ErrorKind.RATE_LIMITED
        else:
            kind = ErrorKind.EXECUTION
        retry_after = float(wait.group(1)) if wait is not None and kind.retryable else None
        if kind is ErrorKind.RATE_LIMITED:
            self._emit(RateLimitSignal(retry_after))
        return TaskError(kind=kind, message=f"gemini-cli: {message}"[:1000], retry_after=retry_after)
