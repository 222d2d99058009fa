"""`serve()`: the long-running daemon — service, monitors, resumed runs and the HTTP API on a socket.

Start-up order matters: take the state-dir lock (one daemon per state dir; a daemon that finds
it taken exits with EXIT_STATE_DIR_BUSY, so its starter waits for the holder), bind the socket
(so port 0 yields a real port and early clients queue in the backlog), open the service, start
its monitors (metrics and notifications follow the service, not the HTTP app, and see the
resumed runs start), resume what was in flight, build the app over the service and its monitors,
publish the discovery file, then serve. Shutdown (SIGTERM, SIGINT or SIGHUP) runs it backwards:
uvicorn drains (SSE streams end), the discovery file is removed, the monitors stop, and runs
still going are left resumable.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette

from parallelai.client.discovery import (
    DaemonInfo,
    discovery_path,
    new_info,
    remove_discovery,
    write_discovery,
)
from parallelai.client.errors import StateDirBusyError
from parallelai.client.launcher import DEFAULT_HOST, DEFAULT_PORT, ORIGINS_ENV
from parallelai.client.state_lock import EXIT_STATE_DIR_BUSY, hold_state_dir
from parallelai.errors import InputError, ParallelAIError
from parallelai.monitor.monitors import Monitors
from parallelai.monitor.notify_config import load_notify_config
from parallelai.orchestration.service import OrchestrationService
from parallelai.paths import default_store_path
from parallelai.processes import make_non_dumpable
from parallelai.server.auth import is_loopback_host, new_token
from parallelai.server.http.app import AppSettings, create_app
from parallelai.server.mcp.http import mount_mcp

log = logging.getLogger("parallelai.server")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


async def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    store: Path | None = None,
    allow_remote: bool = False,
    allowed_origins: Sequence[str] = (),
) -> None:
    """Run the daemon until SIGTERM, SIGINT or SIGHUP.

    Raises InputError for a refused host or port, StateDirBusyError when another daemon holds the
    state dir.
    """
    check_host(host, allow_remote)
    make_non_dumpable()  # before anything starts a child: none may read our environment or token
    origins = checked_origins([*allowed_origins, *_origins_from_env()])
    store_path = store or default_store_path()
    with hold_state_dir(), bind_socket(host, port) as sock:
        url = socket_url(sock)
        # Template tasks declare an output schema; this service checks answers against it.
        async with OrchestrationService.open(store_path, role="daemon") as service:
            notify = load_notify_config()
            async with Monitors.start(service, notify, public_url=url) as monitors:
                resumed = await service.resume_interrupted()
                if resumed:
                    log.warning("resumed %d interrupted run(s): %s", len(resumed), ", ".join(resumed))
                token = new_token()
                settings = AppSettings(loopback_only=not allow_remote, allowed_origins=origins)
                app = create_app(service, token, monitors, settings)
                await _serve_app(app, service, sock, new_info(url, token, store_path.absolute()))


async def _serve_app(
    app: Starlette, service: OrchestrationService, sock: socket.socket, info: DaemonInfo
) -> None:
    """Publish the discovery file, serve until a stop signal, then take the file back."""
    # The app has no lifespan of its own; the MCP session manager is entered around `serve`.
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    write_discovery(info)
    log.info("listening on %s (pid %d); clients find it through %s", info.url, info.pid, discovery_path())
    try:
        server = DaemonServer(config, service)
        async with mount_mcp(app, service), anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, server)
            await server.serve(sockets=[sock])
            group.cancel_scope.cancel()
    finally:
        remove_discovery(info.pid)


class DaemonServer(uvicorn.Server):
    """uvicorn, with shutdown that also ends the SSE streams and leaves signals to the daemon.

    uvicorn's own handlers re-raise the signal once it has drained, which would kill the process
    before it removes the discovery file and parks its runs as resumable.
    """

    def __init__(self, config: uvicorn.Config, service: OrchestrationService) -> None:
        super().__init__(config)
        self._service = service

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        if self.should_exit:
            self.force_exit = True  # a second request means now
        self.should_exit = True
        # Ending every subscription ends every SSE response, so the drain does not wait on them.
        self._service.bus.close()


async def _stop_on_signal(server: DaemonServer) -> None:
    # SIGHUP too: a foreground daemon whose terminal closes stops cleanly, its runs resumable.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for _ in signals:
            server.stop()


def checked_origins(origins: Sequence[str]) -> tuple[str, ...]:
    """Origins as `scheme://host[:port]`; anything else (a path, a wildcard) is refused."""
    for origin in origins:
        if not _ORIGIN.fullmatch(origin.strip().rstrip("/")):
            raise InputError(
                f"--allow-origin {origin!r} is not an origin; give scheme://host[:port], "
                "e.g. http://localhost:3000 (no path, no wildcard)"
            )
    return tuple(dict.fromkeys(origin.strip().rstrip("/") for origin in origins))


def _origins_from_env() -> list[str]:
    return [origin for origin in os.environ.get(ORIGINS_ENV, "").split(",") if origin.strip()]


def check_host(host: str, allow_remote: bool) -> None:
    if is_loopback_host(host):
        return
    if not allow_remote:
        raise InputError(
            f"refusing to listen on {host!r}: the daemon can run agents with shell access, so it binds to "
            "loopback only; pass --allow-remote if you really mean to expose it"
        )
    log.warning(
        "listening on %s: anyone who can reach it and has the token controls agents on this machine", host
    )


@contextlib.contextmanager
def bind_socket(host: str, port: int) -> Iterator[socket.socket]:
    """A listening TCP socket; port 0 picks a free one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port}: {error}") from None
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            raise InputError(
                f"cannot listen on {host}:{port}: {error.strerror}; try another --port"
            ) from None
        sock.listen(1024)
        yield sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)  # our own start-up and resume notes; third-party chatter stays at WARNING


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parallelai-daemon", description="Run the parallelai daemon.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--store", help="SQLite store file (default: $PARALLELAI_STORE or the state dir)")
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for `python -m parallelai.server.daemon` (what `parallelai serve --detach` starts)."""
    args = _arguments(argv)
    configure_logging()
    try:
        store = Path(args.store) if args.store else None
        anyio.run(serve, args.host, args.port, store, args.allow_remote, args.allow_origin)
    except InputError as error:
        print(f"parallelai serve: error: {error}", file=sys.stderr)
        return 2
    except StateDirBusyError as error:
        # Not a failure of the start: whoever started this one waits for that daemon instead.
        print(f"parallelai serve: not starting: {error}", file=sys.stderr)
        return EXIT_STATE_DIR_BUSY
    except ParallelAIError as error:
        print(f"parallelai serve: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
