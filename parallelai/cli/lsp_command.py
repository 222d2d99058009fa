"""`parallelai lsp`: serve the language server over stdio, for VS Code, Neovim, Helix and other editors.

`parallelai lsp` is served without loading the rest of the CLI (cli/entry.py). It is a
thin client of the daemon, which it starts (detached) when none runs, so runs outlive
the editor. Stdout belongs to the protocol; logs go to stderr, which editors show as the
server's log.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")


def add_lsp_command(commands: Any) -> None:
    """Register `lsp` on the `parallelai` sub-command parser (`argparse._SubParsersAction`)."""
    lsp = commands.add_parser(
        "lsp",
        help="serve the language server over stdio (for VS Code, Neovim, Helix, …)",
        description="Serve parallelai's language server over stdio: start runs, follow their events "
        "and progress, and see review findings as diagnostics. See docs/lsp.md.",
    )
    # LSP clients pass these by convention (vscode-languageclient adds --stdio); stdio is the only
    # transport, and the server stops when the client closes stdin, so both are accepted and unused.
    lsp.add_argument("--stdio", action="store_true", help="use stdio (the default and only transport)")
    lsp.add_argument("--clientProcessId", metavar="PID", help=argparse.SUPPRESS)
    lsp.add_argument(
        "--all-runs",
        action="store_true",
        help="publish the findings of every run that finishes, not only of runs this client watches "
        "(for clients that cannot watch runs, e.g. Claude Code's lspServers)",
    )
    lsp.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="of parallelai's own log lines")
    lsp.set_defaults(command=serve_lsp)


async def serve_lsp(args: argparse.Namespace) -> int:
    # Imported here, not at the top: pygls and lsprotocol would slow every other command down.
    from parallelai.server.lsp import build_language_server
    from parallelai.server.lsp.errors import quiet_caller_mistakes

    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("parallelai").setLevel(getattr(args, "log_level", "info").upper())
    quiet_caller_mistakes()
    server = build_language_server(all_runs=getattr(args, "all_runs", False))
    return await server.serve(sys.stdin.buffer, sys.stdout.buffer)
