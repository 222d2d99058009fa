"""The command engine: any command-line program as an agent, the prompt as an argument or on stdin."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parallelai.engines._cli.process import child_env, run_process
from parallelai.engines._redaction import Redactor, secrets_in
from parallelai.engines.base import Emit, EngineRequest, EngineStatus, TextDelta
from parallelai.models import ErrorKind, TaskError, TaskResult

PROMPT_PLACEHOLDER = "{prompt}"


class CommandSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    argv: list[str] | None = None  # `{prompt}` in an element is replaced; else the prompt is appended
    shell: str | None = None  # a /bin/sh command line; the prompt is in "$PROMPT"
    prompt_via: Literal["arg", "stdin"] = "arg"
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: list[str] = Field(default_factory=list)  # more of our environment to hand down
    max_output_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    kill_grace_s: Annotated[float, Field(ge=0)] = 2.0
    retry_exit_codes: list[int] = Field(default_factory=lambda: [75])  # EX_TEMPFAIL means "try again"

    @model_validator(mode="after")
    def _one_command(self) -> CommandSettings:
        if (self.argv is None) == (self.shell is None):
            raise ValueError("the command engine needs exactly one of `argv` (a list) or `shell` (a string)")
        if self.argv is not None and not self.argv:
            raise ValueError("`argv` is empty")
        return self


class CommandEngine:
    name = "command"
    settings_model = CommandSettings
    edits_files = True  # the command edits files itself

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._base = dict(settings)
        self._settings = CommandSettings.model_validate(self._base) if settings else None
        # Our own credentials, not only those handed down: a command can find a key elsewhere (a
        # file, a keychain, a parent's memory) and print it, and what it prints is stored and sent.
        self._own_secrets = secrets_in(os.environ)

    async def run(self, request: EngineRequest, emit: Emit) -> TaskResult:
        settings = self._settings_for(request)
        if settings is None:
            return TaskResult(
                error=TaskError(
                    kind=ErrorKind.BAD_REQUEST,
                    message="the command engine has no command: set `argv` or `shell`",
                )
            )
        env = child_env(
            {**settings.env, "PROMPT": request.prompt, "PARALLELAI_TASK_ID": request.task_id},
            settings.pass_env,
        )
        redact = Redactor.for_env(env, self._own_secrets)
        return redact.result(await self._run(request, redact.emit(emit), settings, env))

    async def _run(
        self, request: EngineRequest, emit: Emit, settings: CommandSettings, env: dict[str, str]
    ) -> TaskResult:
        started = time.monotonic()
        argv, stdin = _command_line(settings, request.prompt)
        try:
            outcome = await run_process(
                argv,
                cwd=request.workdir,
                env=env,
                stdin=stdin,
                max_output_bytes=settings.max_output_bytes,
                kill_grace_s=settings.kill_grace_s,
            )
        except OSError as error:
            return TaskResult(
                error=TaskError(kind=ErrorKind.BAD_REQUEST, message=f"cannot start {argv[0]!r}: {error}")
            )
        duration = time.monotonic() - started
        if outcome.stdout:
            emit(TextDelta(outcome.stdout))
        if outcome.returncode == 0:
            return TaskResult(text=outcome.stdout, duration_s=duration)
        kind = ErrorKind.TRANSIENT if outcome.returncode in settings.retry_exit_codes else ErrorKind.EXECUTION
        detail = outcome.stderr.strip().splitlines()[-1:] or ["no output on stderr"]
        return TaskResult(
            text=outcome.stdout,
            duration_s=duration,
            error=TaskError(kind=kind, message=f"exit code {outcome.returncode}: {detail[0][:500]}"),
        )

    async def status(self) -> EngineStatus:
        if self._settings is None:
            return EngineStatus(
                name=self.name, available=True, detail="runs any program; set `argv` or `shell`"
            )
        program = self._settings.argv[0] if self._settings.argv else "/bin/sh"
        found = shutil.which(program)
        return EngineStatus(
            name=self.name,
            available=found is not None,
            detail=f"runs {found}" if found else f"{program!r} is not on PATH",
        )

    async def aclose(self) -> None:
        return None

    def _settings_for(self, request: EngineRequest) -> CommandSettings | None:
        if not request.options.engine_options:
            return self._settings
        return CommandSettings.model_validate({**self._base, **request.options.engine_options})


def _command_line(settings: CommandSettings, prompt: str) -> tuple[list[str], bytes | None]:
    stdin = prompt.encode() if settings.prompt_via == "stdin" else None
    if settings.shell is not None:
        return ["/bin/sh", "-c", settings.shell], stdin
    assert settings.argv is not None
    if stdin is not None:
        return list(settings.argv), stdin
    if any(PROMPT_PLACEHOLDER in part for part in settings.argv):
        return [part.replace(PROMPT_PLACEHOLDER, prompt) for part in settings.argv], None
    return [*settings.argv, prompt], None
