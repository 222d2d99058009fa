"""The acp engine: any Agent Client Protocol agent (`gemini --experimental-acp`, `copilot --acp`...).

Per attempt: start the agent (own session, allow-listed environment), `initialize`, optionally
`authenticate`, `session/new` in the task's workdir, one `session/prompt`, then stop the agent's
whole process tree. We act as the client: streamed `session/update`s become events, permission
requests are answered by policy, and file reads/writes are served inside the workdir only.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from anyio.abc import ByteReceiveStream, Process
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parallelai._version import __version__
from parallelai.engines._cli.acp_protocol import (
    PROTOCOL_VERSION,
    InitializeResult,
    MessageChunk,
    NewSessionResult,
    PermissionRequest,
    PlanUpdate,
    PromptResult,
    ReadTextFile,
    SessionNotification,
    ToolCallProgress,
    ToolCallStart,
    WriteTextFile,
)
from parallelai.engines._cli.common import VersionCache, cli_source, resolve_binary
from parallelai.engines._cli.jsonrpc import METHOD_NOT_FOUND, ConnectionClosed, JsonRpcConnection, RpcError
from parallelai.engines._cli.process import child_env, terminate_tree
from parallelai.engines._http.errors import kind_for_status
from parallelai.engines._redaction import Redactor
from parallelai.engines.agent_tags import tagged_env
from parallelai.engines.base import Activity, Emit, EngineRequest, EngineStatus, TextDelta
from parallelai.models import ErrorKind, TaskError, TaskResult

AUTH_REQUIRED = -32000  # ACP's "authentication required" error code
_RATE_LIMIT_WORDS = (
    "429",
    "rate limit",
    "quota",
    "resource_exhausted",
    "resource exhausted",
    "too many requests",
)
_DETAIL_CHARS = 300
_EMBEDDED_STATUS = re.compile(r'"code"\s*:\s*([45]\d\d)\b')


class AcpSettings(BaseModel):
    """Options, settable per engine (`engine_settings`) or per task (`engine_options`)."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1)  # e.g. ["gemini", "--experimental-acp"]
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: list[str] = Field(default_factory=list)  # e.g. ["GEMINI_API_KEY"]
    auth_method: str | None = None  # an id from the agent's `authMethods`, sent with `authenticate`
    permissions: Literal["allow", "reject"] = "allow"  # how tool permission requests are answered
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list)  # handed to `session/new`
    # Serve the agent's file reads and writes ourselves (confined to the workdir) instead of letting
    # it use its own file system. Off by default: gemini-cli 0.61 cannot tell a missing file from a
    # failed read through ACP, so its write_file fails on new files when this is on.
    client_fs: bool = False
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    kill_grace_s: Annotated[float, Field(ge=0)] = 2.0


class AcpEngine:
    name = "acp"
    settings_model = AcpSettings
    edits_files = True  # the agent edits files with its tools

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._base = dict(settings)
        self._settings = AcpSettings.model_validate(self._base) if settings else None
        self._versions = VersionCache()

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        started = time.monotonic()
        try:
            settings = self._settings_for(request)
        except ValidationError as error:
            return _failed(ErrorKind.BAD_REQUEST, f"invalid acp options: {error}")
        if settings is None:
            return _failed(ErrorKind.BAD_REQUEST, "the acp engine has no agent: set `command`, e.g. "
                                                  '["gemini", "--experimental-acp"]')  # fmt: skip
        binary = resolve_binary(settings.command[0])
        if binary is None:
            return _failed(ErrorKind.BAD_REQUEST, f"acp: {settings.command[0]!r} was not found")
        env = child_env(settings.env, settings.pass_env)
        redact = Redactor.for_env(env)
        session = _Session(settings, request, redact.emit(emit))
        try:
            process = await anyio.open_process(
                [binary, *settings.command[1:]],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=request.workdir,
                env=tagged_env(env),
                start_new_session=True,
            )
        except OSError as error:
            return _failed(ErrorKind.BAD_REQUEST, redact(f"acp: cannot start {binary}: {error}"))
        with anyio.move_on_after(request.options.timeout or float("inf")) as timer:
            try:
                await session.run(process)
            finally:
                with anyio.CancelScope(shield=True):
                    await session.stop(process)
        result = session.result(timed_out=timer.cancelled_caught)
        failure = (
            result.error.model_copy(update={"message": redact(result.error.message)})
            if result.error
            else None
        )
        return result.model_copy(
            update={"text": redact(result.text), "error": failure, "duration_s": time.monotonic() - started}
        )

    async def status(self) -> EngineStatus:
        if self._settings is None:
            return EngineStatus(name=self.name, available=True,
                                detail='runs any ACP agent; set `command`, e.g. ["gemini", "--experimental-acp"]')  # fmt: skip
        binary = resolve_binary(self._settings.command[0])
        if binary is None:
            return EngineStatus(name=self.name, available=False,
                                detail=f"{self._settings.command[0]!r} is not on PATH; install the agent or fix `command`")  # fmt: skip
        version = await self._versions.version(binary)
        return EngineStatus(name=self.name, available=True, version=version, detail=f"runs {binary} over ACP")

    async def source(self, model: str | None) -> Mapping[str, str]:
        if self._settings is None:
            return {"model": model or ""}
        return await cli_source(self._settings.command[0], model, None)

    async def aclose(self) -> None:
        return None

    def _settings_for(self, request: EngineRequest) -> AcpSettings | None:
        if not request.options.engine_options:
            return self._settings
        return AcpSettings.model_validate({**self._base, **request.options.engine_options})


class _Session:
    """One attempt's conversation with the agent, from `initialize` to the prompt's answer."""

    def __init__(self, settings: AcpSettings, request: EngineRequest, emit: Emit) -> None:
        self.settings, self.request, self.emit = settings, request, emit
        self.workdir = request.workdir.resolve()
        self.session_id: str | None = None
        self.connection: JsonRpcConnection | None = None
        self.text: list[str] = []
        self.size = 0
        self.stop_reason: str | None = None
        self.error: TaskError | None = None
        self.stderr = b""

    async def run(self, process: Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        connection = JsonRpcConnection(process.stdin, process.stdout, self._on_request, self._on_notification)
        self.connection = connection
        async with anyio.create_task_group() as group:
            group.start_soon(connection.serve, group)
            group.start_soon(self._collect_stderr, process.stderr)
            try:
                await self._converse(connection)
            except RpcError as error:
                self.error = TaskError(
                    kind=_kind_for(error), message=f"acp: {error.message} (code {error.code})"
                )
            except ConnectionClosed:
                self.error = TaskError(
                    kind=ErrorKind.EXECUTION, message="acp: the agent exited before it answered"
                )
            except ValidationError as error:
                self.error = TaskError(
                    kind=ErrorKind.EXECUTION, message=f"acp: unexpected answer from the agent: {error}"
                )
            group.cancel_scope.cancel()

    async def _converse(self, connection: JsonRpcConnection) -> None:
        fs = self.settings.client_fs
        init = InitializeResult.model_validate(
            await connection.request("initialize", {
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {"fs": {"readTextFile": fs, "writeTextFile": fs}, "terminal": False},
                "clientInfo": {"name": "parallelai", "version": __version__},
            })
        )  # fmt: skip
        if self.settings.auth_method is not None:
            known = [method.id for method in init.auth_methods]
            if known and self.settings.auth_method not in known:
                raise RpcError(
                    AUTH_REQUIRED, f"the agent offers auth methods {known}, not {self.settings.auth_method!r}"
                )
            await connection.request("authenticate", {"methodId": self.settings.auth_method})
        session = NewSessionResult.model_validate(
            await connection.request(
                "session/new", {"cwd": str(self.workdir), "mcpServers": self.settings.mcp_servers}
            )
        )
        self.session_id = session.session_id
        self.emit(Activity("session", f"ACP session {session.session_id} (protocol {init.protocol_version})"))
        prompt = [{"type": "text", "text": self.request.prompt}]
        answer = PromptResult.model_validate(
            await connection.request("session/prompt", {"sessionId": session.session_id, "prompt": prompt})
        )
        self.stop_reason = answer.stop_reason

    async def stop(self, process: Process) -> None:
        """Ask the agent to stop its turn (politely, briefly), then end its process tree."""
        if self.stop_reason is None and self.session_id is not None and self.connection is not None:
            with anyio.move_on_after(0.2):
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionClosed
                ):
                    await self.connection.notify("session/cancel", {"sessionId": self.session_id})
        await terminate_tree(process, self.settings.kill_grace_s)

    def result(self, *, timed_out: bool) -> TaskResult:
        text = "".join(self.text)
        if timed_out:
            return TaskResult(text=text, session_id=self.session_id, error=TaskError(
                kind=ErrorKind.TIMEOUT, message=f"acp: no answer after {self.request.options.timeout}s"))  # fmt: skip
        error = self.error
        if error is not None and error.kind is ErrorKind.EXECUTION and self.stderr.strip():
            tail = self.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1][:_DETAIL_CHARS]
            error = error.model_copy(
                update={"message": f"{error.message}: {tail}", "kind": _kind_from_text(tail)}
            )
        if error is None and self.stop_reason == "refusal":
            error = TaskError(kind=ErrorKind.EXECUTION, message="acp: the agent refused the request")
        if error is None and self.stop_reason == "cancelled":
            error = TaskError(kind=ErrorKind.CANCELLED, message="acp: the agent cancelled the turn")
        if self.stop_reason in ("max_tokens", "max_turn_requests"):
            self.emit(Activity("truncated", f"the agent stopped early: {self.stop_reason}"))
        return TaskResult(text=text, session_id=self.session_id, error=error)

    # -- the client side of the protocol --------------------------------------------------------

    def _on_notification(self, method: str, params: Any) -> None:
        if method != "session/update":
            return
        try:
            update = SessionNotification.model_validate(params).update
        except ValidationError:
            return
        if isinstance(update, MessageChunk) and update.content.text:
            self._add_text(update.content.text)
        elif isinstance(update, ToolCallStart):
            self.emit(Activity("tool_call", update.title or update.kind or update.tool_call_id))
        elif isinstance(update, ToolCallProgress) and update.status in ("completed", "failed"):
            kind = "tool_result" if update.status == "completed" else "tool_error"
            self.emit(Activity(kind, update.title or update.tool_call_id))
        elif isinstance(update, PlanUpdate) and update.entries:
            self.emit(Activity("plan", "; ".join(entry.content for entry in update.entries)[:_DETAIL_CHARS]))

    async def _on_request(self, method: str, params: Any) -> Any:
        try:
            if method == "session/request_permission":
                return self._permission(PermissionRequest.model_validate(params))
            if method == "fs/read_text_file":
                return await self._read(ReadTextFile.model_validate(params))
            if method == "fs/write_text_file":
                return await self._write(WriteTextFile.model_validate(params))
        except ValidationError as error:
            raise RpcError(-32602, f"invalid params: {error}") from error
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")

    def _permission(self, request: PermissionRequest) -> dict[str, Any]:
        wanted = (
            ("allow_once", "allow_always")
            if self.settings.permissions == "allow"
            else ("reject_once", "reject_always")
        )
        for kind in wanted:
            for option in request.options:
                if option.kind == kind:
                    verb = "allowed" if self.settings.permissions == "allow" else "rejected"
                    self.emit(
                        Activity(
                            "permission",
                            f"{verb}: {request.tool_call.title or request.tool_call.tool_call_id}",
                        )
                    )
                    return {"outcome": {"outcome": "selected", "optionId": option.option_id}}
        return {"outcome": {"outcome": "cancelled"}}

    async def _read(self, request: ReadTextFile) -> dict[str, Any]:
        path = self._inside_workdir(request.path)
        try:
            text = await anyio.Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise RpcError(-32002, f"cannot read {request.path}: {error.strerror}") from error
        if request.line is not None or request.limit is not None:
            lines = text.splitlines(keepends=True)
            first = max((request.line or 1) - 1, 0)
            last = first + request.limit if request.limit is not None else None
            text = "".join(lines[first:last])
        return {"content": text}

    async def _write(self, request: WriteTextFile) -> None:
        path = self._inside_workdir(request.path)
        try:
            await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
            await anyio.Path(path).write_text(request.content, encoding="utf-8")
        except OSError as error:
            raise RpcError(-32002, f"cannot write {request.path}: {error.strerror}") from error
        self.emit(Activity("file_written", str(path.relative_to(self.workdir))))

    def _inside_workdir(self, raw: str) -> Path:
        """The path, resolved; an agent may touch files only inside the task's workdir."""
        path = Path(raw)
        resolved = (path if path.is_absolute() else self.workdir / path).resolve()
        if not resolved.is_relative_to(self.workdir):
            raise RpcError(-32602, f"{raw} is outside the task's workdir")
        return resolved

    def _add_text(self, text: str) -> None:
        room = self.settings.max_output_bytes - self.size
        if room <= 0:
            return
        text = text.encode()[:room].decode("utf-8", errors="ignore")
        self.size += len(text.encode())
        self.text.append(text)
        self.emit(TextDelta(text))

    async def _collect_stderr(self, stream: ByteReceiveStream) -> None:
        async for chunk in stream:
            self.stderr = (self.stderr + chunk)[-64 * 1024 :]  # the tail explains a failure


def _kind_for(error: RpcError) -> ErrorKind:
    if error.code == AUTH_REQUIRED:
        return ErrorKind.AUTH
    return _kind_from_text(error.message)


def _kind_from_text(text: str) -> ErrorKind:
    """Agents pass the provider's HTTP error on as text; its status, if there is one, says the kind."""
    lowered = text.lower()
    if any(word in lowered for word in _RATE_LIMIT_WORDS):
        return ErrorKind.RATE_LIMITED
    if "api key not valid" in lowered or "unauthenticated" in lowered:
        return ErrorKind.AUTH  # Gemini answers a bad key with 400
    status = _EMBEDDED_STATUS.search(text)
    return kind_for_status(int(status.group(1))) if status else ErrorKind.EXECUTION


def _failed(kind: ErrorKind, message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message))
