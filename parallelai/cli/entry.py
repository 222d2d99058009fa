"""The `parallelai` command's entry point: the stdio servers take a short path.

An assistant gives an MCP server a second or two to answer `initialize` before it asks its model
without it, and an editor shows nothing until its language server has answered. Loading the whole
CLI takes ~0.4 s, so `parallelai mcp` and `parallelai lsp` are parsed and started with only what
they need (cli/mcp_command.py, cli/lsp_command.py); every other command goes to the full CLI.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

GLOBAL_OPTIONS_WITH_VALUE = ("--store",)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = command_of(args)
    if command == "mcp":
        from parallelai.cli.mcp_command import add_mcp_command

        return serve_alone(args, add_mcp_command)
    if command == "lsp":
        from parallelai.cli.lsp_command import add_lsp_command

        return serve_alone(args, add_lsp_command)
    if command == "run" and sys.stderr.isatty():  # loading the CLI takes a while; say something first
        print("parallelai: starting…", file=sys.stderr, flush=True)
    from parallelai.cli.main import main as run_cli

    return run_cli(args)


def serve_alone(args: Sequence[str], add_command: Callable[[Any], None]) -> int:
    """Parse `parallelai [--store FILE] COMMAND …` with a parser that knows only COMMAND, and run it
    the way the full CLI runs a command (SIGTERM and SIGHUP stop it cleanly)."""
    import anyio

    from parallelai.cli.stopping import Stopped, until_stopped

    parser = argparse.ArgumentParser(prog="parallelai")
    parser.add_argument("--store", help="SQLite store file (default: the user state dir's)")
    add_command(parser.add_subparsers(required=True, metavar="COMMAND"))
    parsed = parser.parse_args(args)
    try:
        return anyio.run(until_stopped, parsed.command, parsed)
    except Stopped as stopped:
        print(f"parallelai: stopped by {signal.Signals(stopped.signum).name}", file=sys.stderr)
        return 128 + stopped.signum


def command_of(args: Sequence[str]) -> str | None:
    """The sub-command named in `args`: the first word that is neither an option nor an option's value."""
    expecting_value = False
    for arg in args:
        if expecting_value:
            expecting_value = False
        elif arg in GLOBAL_OPTIONS_WITH_VALUE:
            expecting_value = True
        elif not arg.startswith("-"):
            return arg
    return None
