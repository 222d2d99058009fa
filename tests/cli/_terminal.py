"""A program on a real pseudo-terminal: read what it draws, press keys, no sleeps.

The screen is the program's output with escape sequences removed; `wait_for` reads more output
(waiting on the descriptor, not on a clock) until a pattern appears.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import termios
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.abc import Process

_ESCAPES = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


@dataclass
class Terminal:
    process: Process
    master: int
    raw: str = ""
    closed: bool = False

    @property
    def text(self) -> str:
        return _ESCAPES.sub("", self.raw)

    async def wait_for(self, pattern: str, start: int = 0) -> re.Match[str]:
        """The first match of `pattern` in the screen text from `start` on, reading output until it appears."""
        compiled = re.compile(pattern)
        while True:
            match = compiled.search(self.text, start)
            if match is not None:
                return match
            if self.closed:
                raise AssertionError(f"the program ended without showing {pattern!r}:\n{self.text[-3000:]}")
            await self._read()

    async def _read(self) -> None:
        await anyio.wait_readable(self.master)
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the program closed its end
            chunk = b""
        if not chunk:
            self.closed = True
        self.raw += chunk.decode(errors="replace")

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def drain_until_exit(self) -> int:
        while not self.closed:
            await self._read()
        return await self.process.wait()


@asynccontextmanager
async def terminal(command: Sequence[str], columns: int = 140, rows: int = 45) -> AsyncIterator[Terminal]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = os.environ | {"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    env.pop("NO_COLOR", None)
    try:
        async with await anyio.open_process(
            list(command), stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        ) as process:
            os.close(slave)
            slave = -1
            try:
                yield Terminal(process, master)
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await process.wait()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
