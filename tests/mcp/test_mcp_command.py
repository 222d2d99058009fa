"""`parallelai mcp` plugs into the CLI's sub-command parser the way the other commands do."""

from __future__ import annotations

import argparse

from parallelai.cli.mcp_command import add_mcp_command, serve_stdio


def test_add_mcp_command_registers_mcp_with_its_async_command() -> None:
    parser = argparse.ArgumentParser(prog="parallelai")
    parser.add_argument("--store")
    add_mcp_command(parser.add_subparsers(required=True, metavar="COMMAND"))
    args = parser.parse_args(["--store", "x.sqlite", "mcp"])
    assert args.command is serve_stdio
    assert args.store == "x.sqlite"
