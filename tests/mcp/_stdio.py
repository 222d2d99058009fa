"""How the tests start `parallelai mcp` as a real process, on the test's isolated state dir."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

from parallelai.paths import STATE_DIR_ENV


def mcp_command() -> list[str]:
    """`python -m parallelai mcp` once the CLI has the command; its module entry point until then."""
    from parallelai.cli.main import _parser

    wired = any(
        isinstance(action, argparse._SubParsersAction) and "mcp" in action.choices
        for action in _parser()._actions
    )
    entry = ["-m", "parallelai", "mcp"] if wired else ["-m", "parallelai.cli.mcp_command"]
    return [sys.executable, *entry]


def stdio_server(workdir: Path) -> StdioServerParameters:
    command, *args = mcp_command()
    return StdioServerParameters(
        command=command, args=args, env={STATE_DIR_ENV: os.environ[STATE_DIR_ENV]}, cwd=workdir
    )
