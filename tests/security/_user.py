"""Running parallelai as an ordinary user, the way an agent's secrets are at stake.

Root reads any process's memory whatever it says (CAP_SYS_PTRACE), so as root these tests run
the daemon or the command line as `nobody`, keeping only CAP_DAC_READ_SEARCH so that it can reach
the interpreter and pytest's directories; that capability is handed down to the agents as well, so
the agent is exactly as privileged as its parent and only its parent's own protection can stop it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from parallelai.client.discovery import DaemonInfo, discovery_path, read_discovery
from tests.server._support import DEADLINE_S

NOBODY = 65534
ROOT = os.geteuid() == 0
needs_a_user = pytest.mark.skipif(
    ROOT and shutil.which("setpriv") is None, reason="as root, these tests need setpriv to become nobody"
)
_AS_NOBODY = [
    "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
    "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
]  # fmt: skip


@dataclass(frozen=True)
class User:
    home: Path  # the user's own directory: its state dir, store and working directory

    def argv(self, argv: list[str]) -> list[str]:
        return [*_AS_NOBODY, *argv] if ROOT else argv

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        state = self.home / "state"
        return {**os.environ, "HOME": str(self.home), "PARALLELAI_STATE_DIR": str(state), **extra}

    def run(self, argv: list[str], extra_env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv),
            env=self.env(extra_env),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
        )

    @asynccontextmanager
    async def daemon(self, extra_env: Mapping[str, str]) -> AsyncIterator[DaemonInfo]:
        """The real daemon, as this user, on port 0; yields once it listens."""
        env = self.env(extra_env)
        argv = self.argv([sys.executable, "-m", "parallelai.server.daemon", "--port", "0"])
        async with await anyio.open_process(argv, env=env, cwd=self.home) as process:
            assert process.stderr is not None
            log = ""
            async for text in TextReceiveStream(process.stderr):
                log += text
                if "listening on " in log:
                    break
            info = read_discovery(discovery_path(Path(env["PARALLELAI_STATE_DIR"])))
            assert info is not None, log
            assert info.pid == process.pid, log
            async with anyio.create_task_group() as group:
                group.start_soon(_drain, process.stderr)
                try:
                    yield info
                finally:
                    process.terminate()
                    with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                        await process.wait()
                    group.cancel_scope.cancel()


async def _drain(stream: anyio.abc.ByteReceiveStream) -> None:
    async for _ in stream:  # a chatty daemon must never block on a full pipe
        pass
