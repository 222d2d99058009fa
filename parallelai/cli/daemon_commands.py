"""The daemon's commands: `serve`, `stop`, `status` and `dashboard`.

`add_daemon_commands(subparsers)` registers them on the main parser; like every command, each
is an async function of the parsed arguments that returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any

from parallelai.client.discovery import discovery_path, read_discovery
from parallelai.client.errors import DaemonError
from parallelai.client.launcher import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LOG_NAME,
    ORIGINS_ENV,
    start_detached,
    stop_daemon,
)

EXIT_OK, EXIT_NOT_RUNNING = 0, 1


def add_daemon_commands(subparsers: Any) -> None:
    """Register the commands on `parser.add_subparsers()` of the main parser."""
    serve_parser = subparsers.add_parser(
        "serve", help="run the daemon: HTTP API, SSE and dashboard on 127.0.0.1; resumes interrupted runs"
    )
    serve_parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})"
    )
    serve_parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks a free one)"
    )
    serve_parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (anyone with the token controls it)",
    )
    serve_parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept requests (with the token) from this web origin, e.g. VS Code for the web "
        f"at http://localhost:3000; repeatable; also ${ORIGINS_ENV}, comma-separated",
    )
    serve_parser.add_argument(
        "--detach", action="store_true", help=f"run in the background, logging to the state dir's {LOG_NAME}"
    )
    serve_parser.set_defaults(command=_serve)

    stop_parser = subparsers.add_parser("stop", help="stop the running daemon (its runs stay resumable)")
    stop_parser.set_defaults(command=_stop)

    status_parser = subparsers.add_parser("status", help="whether the daemon runs, and where")
    status_parser.add_argument("--json", action="store_true")
    status_parser.set_defaults(command=_status)

    dashboard_parser = subparsers.add_parser(
        "dashboard", help="open the web dashboard (starts the daemon if none runs)"
    )
    dashboard_parser.add_argument(
        "--no-open", action="store_true", help="print the one-time link, do not open it"
    )
    dashboard_parser.set_defaults(command=_dashboard)


async def _serve(args: argparse.Namespace) -> int:
    # Imported here: the server (uvicorn, starlette, the MCP SDK) would slow every other command.
    from parallelai.server.daemon import configure_logging, serve

    store = _store(args)
    if args.detach:
        info = await start_detached(args.host, args.port, store, args.allow_remote, args.allow_origin)
        print(f"parallelai daemon running at {info.url} (pid {info.pid})")
        return EXIT_OK
    configure_logging()
    await serve(args.host, args.port, store, args.allow_remote, args.allow_origin)
    return EXIT_OK


async def _stop(args: argparse.Namespace) -> int:
    info = await stop_daemon()
    if info is None:
        print("no daemon is running")
    else:
        print(f"stopped the daemon at {info.url} (pid {info.pid})")
    return EXIT_OK


async def _status(args: argparse.Namespace) -> int:
    info = read_discovery()
    if info is None:
        if args.json:
            print(json.dumps({"running": False, "discovery_file": str(discovery_path())}))
        else:
            print(f"no daemon is running (looked for {discovery_path()})")
        return EXIT_NOT_RUNNING
    from parallelai.client.daemon_client import DaemonClient  # httpx only when it is used

    async with DaemonClient(info) as client:
        try:
            health = await client.health()
        except DaemonError as error:
            print(f"the daemon (pid {info.pid}) does not answer: {error}", file=sys.stderr)
            return EXIT_NOT_RUNNING
    if args.json:
        body = {
            "running": True,
            "url": info.url,
            "pid": info.pid,
            "store": info.store,
            "version": health.version,
        }
        print(json.dumps(body | {"discovery_file": str(discovery_path())}))
        return EXIT_OK
    uptime = time.time() - info.started_at
    print(f"parallelai daemon {health.version} running at {info.url} (pid {info.pid}, up {uptime:.0f}s)")
    print(f"store: {info.store}")
    print(f"token and URL for clients: {discovery_path()}")
    return EXIT_OK


async def _dashboard(args: argparse.Namespace) -> int:
    from parallelai.client.daemon_client import DaemonClient  # httpx only when it is used

    async with await DaemonClient.connect(start=True) as client:
        link = await client.dashboard_link()
    print(link.url)
    if not args.no_open:
        webbrowser.open(link.url)
    return EXIT_OK


def _store(args: argparse.Namespace) -> Path | None:
    store = getattr(args, "store", None)
    return Path(store) if store else None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {value}")
    return value
