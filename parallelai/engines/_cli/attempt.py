"""One attempt of a CLI engine: its private home, the CLI under the task's timeout, the result scrubbed.

Engines keep what is theirs (arguments, environment, stream reader, home contents) and call these
in order: `attempt_home` (if the CLI gets one), `run_cli`, then `finish`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from parallelai.engines._cli.common import failed, remove_home
from parallelai.engines._cli.process import ProcessOutcome, run_process
from parallelai.engines._cli.settings import CliSettings, HomeCliSettings
from parallelai.engines._redaction import Redactor
from parallelai.engines.base import EngineRequest
from parallelai.models import ErrorKind, TaskError, TaskResult

ARGUMENT_LIMIT = 100_000  # bytes of prompt passed as an argument; longer ones go to stdin


@asynccontextmanager
async def attempt_home(settings: HomeCliSettings, prepare: Callable[[], Path]) -> AsyncIterator[Path]:
    """The home `prepare` makes (in a thread), removed afterwards unless `keep_home` says otherwise."""
    home = await anyio.to_thread.run_sync(prepare)
    try:
        yield home
    finally:
        if not settings.keep_home:
            with anyio.CancelScope(shield=True):  # a cancelled attempt must not leave its home behind
                await anyio.to_thread.run_sync(remove_home, home)


@dataclass(frozen=True)
class CliRun:
    """How the CLI ended: its outcome, or None when the task's timeout ran out (or it never started)."""

    outcome: ProcessOutcome | None
    start_failure: TaskResult | None = None


async def run_cli(
    name: str,
    argv: Sequence[str],
    *,
    request: EngineRequest,
    settings: CliSettings,
    env: dict[str, str],
    redact: Redactor,
    on_line: Callable[[str], None],
    stdin: bytes | None,
) -> CliRun:
    """Run the CLI in the task's workdir, each stdout line to `on_line`, until it ends or the timeout."""
    with anyio.move_on_after(request.options.timeout or float("inf")):
        try:
            outcome = await run_process(
                argv,
                cwd=request.workdir,
                env=env,
                stdin=stdin,
                on_line=on_line,
                max_output_bytes=settings.max_output_bytes,
                kill_grace_s=settings.kill_grace_s,
            )
        except OSError as error:
            return CliRun(
                None, failed(ErrorKind.BAD_REQUEST, redact(f"{name}: cannot start {argv[0]}: {error}"))
            )
        return CliRun(outcome)
    return CliRun(None)


def finish(
    result: TaskResult,
    *,
    name: str,
    request: EngineRequest,
    run: CliRun,
    redact: Redactor,
    started: float,
    waited_for: str = "answer",
) -> TaskResult:
    """The result as the engine reports it: a timeout error if the CLI ran out of time, secrets masked, timed."""
    if run.outcome is None:
        timeout = TaskError(
            kind=ErrorKind.TIMEOUT, message=f"{name}: no {waited_for} after {request.options.timeout}s"
        )
        result = result.model_copy(update={"error": timeout})
    return redact.result(result).model_copy(update={"duration_s": time.monotonic() - started})


def prompt_argument(prompt: str) -> list[str]:
    """`--prompt=...` (a prompt starting with "-" is no flag), or nothing when the prompt goes to stdin."""
    return [] if via_stdin(prompt) else [f"--prompt={prompt}"]


def prompt_stdin(prompt: str) -> bytes | None:
    return prompt.encode() if via_stdin(prompt) else None


def via_stdin(prompt: str) -> bool:
    """Whether the prompt is too long for one argument (Linux caps each at 128 KiB) and goes to stdin.

    Stdin (piped input is prompt mode too) is the fallback, not the rule: an argument cannot arrive
    late, while gemini-cli, for one, waits only 500 ms for piped input before running without it.
    """
    return len(prompt.encode()) > ARGUMENT_LIMIT
