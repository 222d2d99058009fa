"""How the tests start `parallelai mcp` as a real process, on the test's isolated state dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

from parallelai.paths import STATE_DIR_ENV


def mcp_command() -> list[str]:
    return [sys.executable, "-m", "parallelai", "mcp"]


def stdio_server(workdir: Path) -> StdioServerParameters:
    """`parallelai mcp` as an assistant starts it, with the session's engine named: the tests mean echo."""
    command, *args = mcp_command()
    return StdioServerParameters(
        command=command,
        args=[*args, "--engine", "echo"],
        env={STATE_DIR_ENV: os.environ[STATE_DIR_ENV]},
        cwd=workdir,
    )
