"""A program in a real terminal emulator (tmux): what is on its screen now, and keys pressed into it.

Where `tests/cli/_terminal.py` reads the stream a program writes, this reads the screen tmux has
drawn from it (`capture-pane`): what a person sees at that moment, after every redraw and cursor
move, at a fixed size. Each session runs on a tmux server of its own (`-S`, a socket in a fresh
temporary directory, no user config), which is killed on the way out whatever happened.

Waiting is polling the screen under a deadline (tmux sends no event when a pane changes).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from tests.support.polling import POLL_S

TMUX = shutil.which("tmux")
SESSION = "test"
WAIT_S = 30.0
REVERSE = re.compile(r"\x1b\[(?:[0-9;]*;)?7(?:;[0-9;]*)?m")  # SGR 7: reverse video, how a selection shows
_SGR = re.compile(r"\x1b\[[0-9;]*m")
# The program runs under `sh`, which says how it ended: tmux's own record of a pane's exit status
# is not always filled in once the pane is dead.
EXITED = r"\[exited with (\d+)\]"
_WRAPPER = '"$@"; printf "\\n[exited with %d]\\n" "$?"'


@dataclass
class Pane:
    socket: str

    async def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        assert TMUX is not None
        done = await anyio.run_process([TMUX, "-S", self.socket, *args], check=True, env=env)
        return done.stdout.decode(errors="replace")

    async def screen(self, styles: bool = False) -> str:
        """The pane's visible lines as text; with `styles`, with their SGR escapes (colours, reverse)."""
        return await self._tmux("capture-pane", "-p", *(["-e"] if styles else []), "-t", SESSION)

    async def wait_for(self, pattern: str, within_s: float = WAIT_S) -> re.Match[str]:
        """The first match of `pattern` on the screen, once it is there."""
        compiled = re.compile(pattern)
        screen = ""
        try:
            with anyio.fail_after(within_s):
                while True:
                    screen = await self.screen()
                    if (match := compiled.search(screen)) is not None:
                        return match
                    await anyio.sleep(POLL_S)
        except TimeoutError:
            raise AssertionError(f"the screen never showed {pattern!r}; it shows:\n{screen}") from None

    async def wait_until_gone(self, pattern: str, within_s: float = WAIT_S) -> str:
        """The screen, once `pattern` is no longer on it."""
        compiled = re.compile(pattern)
        screen = ""
        try:
            with anyio.fail_after(within_s):
                while True:
                    screen = await self.screen()
                    if compiled.search(screen) is None:
                        return screen
                    await anyio.sleep(POLL_S)
        except TimeoutError:
            raise AssertionError(f"the screen kept showing {pattern!r}:\n{screen}") from None

    async def selected_lines(self) -> list[str]:
        """The lines drawn in reverse video (a selected row), as plain text."""
        lines = (await self.screen(styles=True)).splitlines()
        return [_SGR.sub("", line).strip() for line in lines if REVERSE.search(line)]

    async def press(self, *keys: str) -> None:
        """Keys by tmux's names (`Down`, `Enter`, `Escape`, `q`), one after the other."""
        for key in keys:
            await self._tmux("send-keys", "-t", SESSION, key)

    async def exit_status(self, within_s: float = WAIT_S) -> int:
        """The program's exit status, once it has ended (`tmux` runs it under a shell that prints it)."""
        return int((await self.wait_for(EXITED, within_s)).group(1))


@asynccontextmanager
async def tmux(command: Sequence[str], columns: int = 120, rows: int = 40) -> AsyncIterator[Pane]:
    """`command` in a `columns` x `rows` tmux pane, in this process's environment."""
    assert TMUX is not None, "tmux is not installed: run `bash scripts/setup.sh --browser`"
    # A socket in a directory of its own (tmux leaves the file behind when its server ends).
    home = tempfile.mkdtemp(prefix="parallelai-tmux-")
    pane = Pane(os.path.join(home, "socket"))
    # The server, and so the program, gets this environment but for the terminal's own variables,
    # which come from tmux (TERM, the size: a COLUMNS left here would override the pane's); colour stays on.
    skip = {"NO_COLOR", "TERM", "COLUMNS", "LINES", "TMUX", "TMUX_PANE"}
    environment = {name: value for name, value in os.environ.items() if name not in skip}
    try:
        await pane._tmux(
            "-f",
            "/dev/null",
            "start-server",
            ";",
            # A pane whose program ended stays on screen, so its last frame and status can be read.
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            # No status line: the pane is the whole `columns` x `rows`.
            "set-option",
            "-g",
            "status",
            "off",
            ";",
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            str(columns),
            "-y",
            str(rows),
            "--",
            "sh",
            "-c",
            _WRAPPER,
            "sh",
            *command,
            env=environment,
        )
        yield pane
    finally:
        with anyio.CancelScope(shield=True):
            # Ends the server and the program in its pane; fails only if the server is gone already.
            await anyio.run_process([TMUX, "-S", pane.socket, "kill-server"], check=False)
        shutil.rmtree(home, ignore_errors=True)
