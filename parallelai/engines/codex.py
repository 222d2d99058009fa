"""The codex engine: OpenAI's Codex CLI in `codex exec --json` mode, one JSON event per line.

Each attempt runs in the task's workdir with its own `CODEX_HOME`. With `base_url` set, that home
gets a config.toml naming a provider with that URL and `wire_api = "responses"` (codex ignores
OPENAI_BASE_URL); otherwise the user's own config and login are copied in. The prompt goes to
stdin, which is closed right after it: codex waits for more input on a stdin left open.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from parallelai.engines._cli.attempt import attempt_home, finish, run_cli
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
from parallelai.ratelimits.account import OPENAI_API, Account, account_for

INSTALL_HINT = "install it with `npm install -g @openai/codex` or set `binary` to its path"
PROVIDER = "parallelai"
PROVIDER_KEY_ENV = "PARALLELAI_CODEX_API_KEY"  # the variable our provider entry tells codex to read
PASS_ENV = ("OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_ORGANIZATION", "OPENAI_PROJECT")
SCHEMA_FILE = "output-schema.json"  # a task's `output_schema`, for `--output-schema`
INHERITED_FILES = ("auth.json", "config.toml")  # the user's login and settings, when we add no provider
# "unexpected status 401 Unauthorized: ..." and "exceeded retry limit, last status: 429 Too Many Requests"
_STATUS = re.compile(r"\bstatus:?\s+(\d{3})\b")
_DETAIL_CHARS = 300


class CodexSettings(HomeCliSettings):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    binary: str = "codex"
    sandbox: Literal["read-only", "workspace-write", "danger-full-access"] = "workspace-write"
    base_url: str | None = None  # an OpenAI Responses API endpoint, e.g. http://127.0.0.1:8000/v1
    api_key: SecretStr | None = None  # for `base_url`; else $OPENAI_API_KEY
    cli_max_retries: Annotated[int, Field(ge=0)] | None = None  # codex's own request/stream retries
    config: dict[str, str | int | float | bool] = Field(default_factory=dict)  # more `-c key=value`
    # `inherit_home_from` defaults to $CODEX_HOME or ~/.codex.


class CodexEngine:
    name = "codex"
    settings_model = CodexSettings
    edits_files = True  # the CLI edits files with its tools

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = SettingsSource(CodexSettings, settings)
        self._versions = VersionCache()

    def rate_account(self, request: EngineRequest) -> Account | None:
        """The OpenAI account the CLI's requests go to: the one the `openai` engine paces too."""
        try:
            settings = self._settings.for_request(request)
        except ValidationError:
            return None  # `run` says what is wrong
        key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("OPENAI_API_KEY")
        return account_for(
            "openai", settings.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_API, key
        )

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings.for_request(request)
        except ValidationError as error:
            return failed(ErrorKind.BAD_REQUEST, f"invalid codex options: {error}")
        binary = resolve_binary(settings.binary)
        if binary is None:
            return not_found("codex", settings.binary, INSTALL_HINT)
        key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("OPENAI_API_KEY")
        async with attempt_home(settings, lambda: _prepare_home(settings, request, key)) as home:
            env = child_env({**settings.env, "CODEX_HOME": str(home)}, [*PASS_ENV, *settings.pass_env])
            if settings.base_url:
                env[PROVIDER_KEY_ENV] = key or "unused"  # local servers want no key, but codex wants one set
            redact = Redactor.for_env(env, [key])
            model = request.model or settings.model
            reader = _StreamReader(
                redact.emit(emit),
                PriceTable(OPENAI_PRICES, settings.prices),
                model,
                structured=request.options.output_schema is not None,
            )
            run = await run_cli(
                "codex",
                [binary, *build_arguments(settings, request, home)],
                request=request,
                settings=settings,
                env=env,
                redact=redact,
                on_line=reader.feed,
                stdin=request.prompt.encode(),  # a pipe closed after the prompt; never left open
            )
            if run.start_failure is not None:
                return run.start_failure
        result = finish(
            reader.outcome(run.outcome),
            name="codex",
            request=request,
            run=run,
            redact=redact,
            started=started,
        )
        return result.model_copy(update={"session_id": reader.session_id})

    def ready(self) -> EngineStatus:
        """Installed and signed in? From PATH, the environment and credential files: nothing is started."""
        settings = self._settings.default
        binary = resolve_binary(settings.binary)
        if binary is None:
            return not_installed(self.name, settings.binary, INSTALL_HINT)
        inherited = _inherit_dir(settings)
        logged_in = inherited is not None and (inherited / "auth.json").is_file()
        has_key = settings.api_key is not None or bool(
            os.environ.get("OPENAI_API_KEY") or os.environ.get("CODEX_API_KEY")
        )
        if not (settings.base_url or logged_in or has_key):
            return EngineStatus(
                name=self.name,
                available=False,
                detail="no credentials: set OPENAI_API_KEY, run `codex login`, or set `base_url`",
            )
        return EngineStatus(name=self.name, available=True, detail=f"runs {binary}")

    async def status(self) -> EngineStatus:
        return await with_version(self.ready(), self._settings.default.binary, self._versions)

    async def source(self, model: str | None) -> Mapping[str, str]:
        settings = self._settings.default
        endpoint = settings.base_url or os.environ.get("OPENAI_BASE_URL")
        return await cli_source(settings.binary, model or settings.model, endpoint)

    async def aclose(self) -> None:
        return None


def build_arguments(settings: CodexSettings, request: EngineRequest, home: Path) -> list[str]:
    """`exec --json` arguments for one attempt; "-" reads the prompt from stdin: no length limit, not in `ps`."""
    args = [
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--sandbox",
        settings.sandbox,
        "--cd",
        str(request.workdir),
    ]
    model = request.model or settings.model
    if model:
        args += ["--model", model]
    if request.options.output_schema is not None:
        args += ["--output-schema", str(home / SCHEMA_FILE)]
    for key, value in settings.config.items():
        args += ["-c", f"{key}={_toml(value)}"]
    return [*args, *settings.extra_args, "-"]


def provider_config(settings: CodexSettings, model: str | None) -> str:
    """A config.toml that sends every request to `base_url` over the Responses API."""
    assert settings.base_url is not None
    lines = [f"model_provider = {_toml(PROVIDER)}"]
    if model:
        lines.append(f"model = {_toml(model)}")
    lines += [
        "",
        f"[model_providers.{PROVIDER}]",
        f"name = {_toml(PROVIDER)}",
        f"base_url = {_toml(settings.base_url.rstrip('/'))}",
        f"env_key = {_toml(PROVIDER_KEY_ENV)}",
        'wire_api = "responses"',
    ]
    if settings.cli_max_retries is not None:
        lines += [
            f"request_max_retries = {settings.cli_max_retries}",
            f"stream_max_retries = {settings.cli_max_retries}",
        ]
    return "\n".join(lines) + "\n"


def _prepare_home(settings: CodexSettings, request: EngineRequest, key: str | None) -> Path:
    home = create_attempt_home("codex", request.task_id, request.attempt, settings.home_root)
    if settings.base_url:
        (home / "config.toml").write_text(provider_config(settings, request.model or settings.model))
    elif (inherited := _inherit_dir(settings)) is not None:
        copy_files(inherited, home, INHERITED_FILES)
    if request.options.output_schema is not None:
        (home / SCHEMA_FILE).write_text(json.dumps(request.options.output_schema))
    return home


def _inherit_dir(settings: CodexSettings) -> Path | None:
    return settings.inherit_dir("CODEX_HOME", Path.home() / ".codex")


def _toml(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)  # a JSON string is a valid TOML basic string


# -- the stream: only the fields we read; unknown event and item types pass by untouched --------


class _Change(BaseModel):
    path: str = ""
    kind: str = ""


class _Item(BaseModel):
    id: str = ""
    type: str
    text: str | None = None  # agent_message, reasoning
    message: str | None = None  # error (often only a warning)
    command: str | None = None  # command_execution
    exit_code: int | None = None
    changes: list[_Change] | None = None  # file_change
    server: str | None = None  # mcp_tool_call
    tool: str | None = None
    query: str | None = None  # web_search


class _CodexUsage(BaseModel):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0


class _Failure(BaseModel):
    message: str = ""


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    thread_id: str | None = None
    item: _Item | None = None
    usage: _CodexUsage | None = None
    error: _Failure | None = None  # turn.failed
    message: str | None = None  # a top-level error


class _StreamReader:
    """Turns codex's JSON lines into engine events and, at the end, one result."""

    def __init__(self, emit: Emit, prices: PriceTable, model: str | None, structured: bool) -> None:
        self._emit, self._prices, self._model, self._structured = emit, prices, model, structured
        self.session_id: str | None = None
        self.last_message = ""  # the answer; earlier messages were progress notes, already emitted
        self.usage = Usage()
        self.completed = False
        self.failure: str | None = None
        self.last_error: str | None = None

    def feed(self, line: str) -> None:
        if not line.startswith("{"):
            return  # codex prints nothing else on stdout today; tolerate it if it ever does
        try:
            event = _Event.model_validate_json(line)
        except ValidationError:
            return
        if event.type == "thread.started" and event.thread_id:
            self.session_id = event.thread_id
            self._emit(Activity("session", f"codex thread {event.thread_id}"))
        elif event.type == "item.started" and event.item is not None:
            self._started(event.item)
        elif event.type == "item.completed" and event.item is not None:
            self._completed(event.item)
        elif event.type == "turn.completed":
            self.completed = True
            if event.usage is not None:
                turn = self._prices.usage(self._model, event.usage.input_tokens, event.usage.output_tokens)
                self.usage = self.usage + turn
                self._emit(UsageReport(self.usage))
        elif event.type == "turn.failed":
            self.failure = event.error.message if event.error else "the turn failed"
        elif event.type == "error":
            # Also sent for retries codex recovers from; only the turn's end says whether it failed.
            self.last_error = event.message

    def _started(self, item: _Item) -> None:
        if item.type == "command_execution":
            self._emit(Activity("tool_call", f"$ {item.command}"[:_DETAIL_CHARS]))
        elif item.type == "mcp_tool_call":
            self._emit(Activity("tool_call", f"{item.server}.{item.tool}"))

    def _completed(self, item: _Item) -> None:
        if item.type == "agent_message" and item.text is not None:
            self.last_message = item.text
            self._emit(TextDelta(item.text))
        elif item.type == "reasoning" and item.text:
            self._emit(Activity("thinking", item.text[:_DETAIL_CHARS]))
        elif item.type == "command_execution":
            self._emit(Activity("tool_result", f"$ {item.command} -> exit {item.exit_code}"[:_DETAIL_CHARS]))
        elif item.type == "file_change" and item.changes:
            self._emit(
                Activity("file_change", ", ".join(f"{c.kind} {c.path}" for c in item.changes)[:_DETAIL_CHARS])
            )
        elif item.type == "web_search":
            self._emit(Activity("tool_call", f"web search: {item.query}"[:_DETAIL_CHARS]))
        elif item.type == "error" and item.message:
            self._emit(Activity("warning", item.message[:_DETAIL_CHARS]))  # e.g. unknown model metadata

    def outcome(self, process: ProcessOutcome | None) -> TaskResult:
        text = self.last_message
        if process is None:
            return TaskResult(text=text, usage=self.usage)
        if self.completed and self.failure is None and process.returncode == 0:
            return TaskResult(text=text, usage=self.usage) if not self._structured else self._parsed(text)
        reason = self.failure or self.last_error
        if reason is None:
            reason = f"exit code {process.returncode}: {last_line(process.stderr)}"
        status = _STATUS.search(reason)
        kind = kind_for_status(int(status.group(1))) if status else ErrorKind.EXECUTION
        if kind is ErrorKind.RATE_LIMITED:
            self._emit(RateLimitSignal(None))  # codex does not pass the server's Retry-After on
        return TaskResult(
            text=text, usage=self.usage, error=TaskError(kind=kind, message=f"codex: {reason}"[:1000])
        )

    def _parsed(self, text: str) -> TaskResult:
        """The final message as the JSON `--output-schema` asked for."""
        try:
            return TaskResult(text=text, structured=json.loads(text), usage=self.usage)
        except ValueError as error:
            message = f"codex: the answer is not the JSON the output schema asks for: {error}"
            return TaskResult(
                text=text, usage=self.usage, error=TaskError(kind=ErrorKind.EXECUTION, message=message)
            )
