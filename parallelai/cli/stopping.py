"""Stopping a command by signal: SIGTERM and SIGHUP cancel it as Ctrl-C does, so its runs stop resumable.

SIGTERM is what `timeout`, a CI cancel, `docker stop` or an editor closing its language server
sends; SIGHUP a closed terminal. Kept apart from the CLI's commands: the stdio servers use it too,
and they must start without importing the rest of the CLI.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Awaitable, Callable

import anyio

from parallelai.errors import sole_exception

Command = Callable[[argparse.Namespace], Awaitable[int]]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """The command was cancelled by `signum`; the process should exit with 128 + signum."""

    def __init__(self, signum: int) -> None:
        self.signum = signum


async def until_stopped(command: Command, args: argparse.Namespace) -> int:
    """Run `command`; SIGTERM or SIGHUP cancel it and raise `Stopped` once it has wound down."""
    stopped_by: list[int] = []
    code = 0
    try:
        async with anyio.create_task_group() as group:
            with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:

                async def stop_on_signal() -> None:
                    async for signum in signals:
                        stopped_by.append(signum)
                        group.cancel_scope.cancel()
                        return

                group.start_soon(stop_on_signal)
                code = await command(args)
                group.cancel_scope.cancel()
    except BaseExceptionGroup as errors:
        raise sole_exception(errors) from None
    if stopped_by:
        raise Stopped(stopped_by[0])
    return code
