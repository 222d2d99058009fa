"""`parallelai mcp`: serve the MCP tools over stdio, for Claude Code, Cursor and other clients.

Two modes. By default the tools run in the daemon (started if none runs), so runs outlive the
assistant's session and every other surface (CLI, dashboard, editors) sees them. With
`--embedded` this process opens the store and runs the orchestration itself, so its runs stop with
it (`parallelai resume` continues them).

Either way the stdio front answers `initialize` and the tool list at once, from the manifest, and
brings the daemon or the embedded server up in the background (server/mcp/front.py). This module
is on that path: it imports nothing heavy at the top, and `parallelai mcp` is served
without loading the rest of the CLI (cli/entry.py).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from parallelai.server.mcp.front import Link, StdioFront
from parallelai.server.mcp.manifest import Manifest


def add_mcp_command(commands: Any) -> None:
    """Register `mcp` on the `parallelai` sub-command parser (`argparse._SubParsersAction`)."""
    mcp = commands.add_parser(
        "mcp",
        help="serve the MCP tools over stdio (for Claude Code, Cursor, …)",
        description="Serve parallelai's MCP tools over stdio. Configure your MCP client to run "
        "`parallelai mcp`; see docs/mcp.md.",
    )
    mcp.add_argument(
        "--embedded",
        action="store_true",
        help="run the orchestration in this process instead of in the daemon (runs stop with it; "
        "`parallelai resume` continues them)",
    )
    mcp.add_argument(
        "--engine",
        metavar="NAME[:MODEL]",
        help="engine of the runs this session starts when a call names none (default: each call's own, else the config's, else the first assistant ready here)",
    )
    mcp.add_argument(
        "--parallel",
        metavar="N",
        help="sub-agents at once for the runs this session starts when a call says nothing (default: 8)",
    )
    mcp.set_defaults(command=serve_stdio)


async def serve_stdio(args: argparse.Namespace) -> int:
    # Stderr is the client's log of this server; the SDK's INFO lines would only add noise there.
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    store = getattr(args, "store", None)
    open_link = partial(_link, Path(store) if store else None, getattr(args, "embedded", False))
    front = StdioFront(Manifest.load(), open_link, _run_defaults(args))
    with _claimed_stdio() as (wire_in, wire_out):
        await front.serve(wire_in, wire_out)
    return 0


def _run_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """`--engine` and `--parallel` as `start_run` arguments. Empty values are left out: a plugin
    option the user cleared arrives as ""."""
    defaults: dict[str, Any] = {}
    if engine := (getattr(args, "engine", None) or "").strip():
        defaults["engine"] = engine
    if parallel := (getattr(args, "parallel", None) or "").strip():
        try:
            defaults["parallel"] = int(float(parallel))  # Claude Code passes a number option as "8" or "8.0"
        except ValueError:
            raise SystemExit(
                f"parallelai mcp: --parallel takes a number of sub-agents, not {parallel!r}"
            ) from None
    return defaults


@asynccontextmanager
async def _link(store_path: Path | None, embedded: bool) -> AsyncIterator[Link]:
    # The MCP SDK takes ~0.6 s to import: off the event loop, which is answering the client meanwhile.
    await anyio.to_thread.run_sync(importlib.import_module, "parallelai.server.mcp.links")
    from parallelai.server.mcp.links import daemon_link, embedded_link

    async with (embedded_link if embedded else daemon_link)(store_path) as link:
        yield link


@contextmanager
def _claimed_stdio() -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """Private copies of stdin and stdout for the protocol; meanwhile fd 0 reads nothing and fd 1
    goes to stderr, so a stray print or an agent's child process cannot corrupt the wire."""
    wire_in = os.fdopen(os.dup(0), "rb")
    wire_out = os.fdopen(os.dup(1), "wb")
    saved = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    try:
        yield wire_in, wire_out
    finally:
        sys.stdout.flush()
        for fd, copy in zip((0, 1), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        wire_in.close()
        wire_out.close()
