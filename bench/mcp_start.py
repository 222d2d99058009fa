"""How soon `parallelai mcp` answers `initialize`: the figure that decides whether an assistant sees its tools.

Claude Code in print mode asks its model about 3 s after it starts, with or without the MCP servers
still starting. One sample: spawn `parallelai mcp` on a fresh state dir, send `initialize`, time
until its answer arrives. *Cold*: no daemon runs (the server starts one in the background); the
sample then also times the first tool call, which waits for that daemon. *Warm*: a daemon for the
state dir is already up. The baseline is the time a bare `python -c "import mcp"` takes, spawned the
same way: what a server built on the SDK pays before it can say anything.

    .venv/bin/python -m bench.mcp_start        # 5 samples of each, medians
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

SAMPLES = 5
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}
FIRST_CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "list_runs", "arguments": {}},
}


def parallelai_command() -> list[str]:
    """The installed console script, as an MCP client's config names it."""
    return [str(Path(sys.executable).with_name("parallelai")), "mcp"]


def _send(stdin: IO[bytes], message: dict[str, Any]) -> None:
    stdin.write(json.dumps(message).encode() + b"\n")
    stdin.flush()


def _answer(stdout: IO[bytes], request_id: int) -> dict[str, Any]:
    while line := stdout.readline():
        message: dict[str, Any] = json.loads(line)
        if message.get("id") == request_id:
            return message
    raise RuntimeError(f"the server closed stdout before answering request {request_id}")


@contextmanager
def _state_dir(env: dict[str, str]) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="parallelai-bench-mcp-") as state:
        scoped = {**env, "PARALLELAI_STATE_DIR": state}
        try:
            yield scoped
        finally:
            stop = [str(Path(sys.executable).with_name("parallelai")), "stop"]
            subprocess.run(stop, env=scoped, capture_output=True, check=False)


def sample(env: dict[str, str], with_first_call: bool) -> tuple[float, float | None]:
    """Seconds until `initialize` is answered (and until the first tool call is, when asked)."""
    started = time.perf_counter()
    server = subprocess.Popen(parallelai_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        _send(server.stdin, INITIALIZE)
        if "result" not in _answer(server.stdout, 1):
            raise RuntimeError("initialize was refused")
        initialized = time.perf_counter() - started
        first_call = None
        if with_first_call:
            _send(server.stdin, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            _send(server.stdin, FIRST_CALL)
            if _answer(server.stdout, 2).get("result", {}).get("isError", True):
                raise RuntimeError("the first tool call failed")
            first_call = time.perf_counter() - started
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    return initialized, first_call


def measure_cold(samples: int = SAMPLES) -> dict[str, float]:
    initialize, first_call = [], []
    for _ in range(samples):
        with _state_dir(dict(os.environ)) as env:
            answered, called = sample(env, with_first_call=True)
        initialize.append(answered)
        first_call.append(called or 0.0)
    return {"wall": statistics.median(initialize), "first_call": statistics.median(first_call)}


def measure_warm(samples: int = SAMPLES) -> dict[str, float]:
    with _state_dir(dict(os.environ)) as env:
        sample(env, with_first_call=True)  # starts the daemon; not counted
        times = [sample(env, with_first_call=False)[0] for _ in range(samples)]
    return {"wall": statistics.median(times)}


def measure_import_mcp(samples: int = SAMPLES) -> dict[str, float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp"], check=True)
        times.append(time.perf_counter() - started)
    return {"wall": statistics.median(times)}


def main() -> int:
    cold, warm, baseline = measure_cold(), measure_warm(), measure_import_mcp()
    print(f"python -c 'import mcp':           {baseline['wall']:.3f} s")
    print(
        f"cold parallelai mcp -> initialize: {cold['wall']:.3f} s (first tool call {cold['first_call']:.3f} s)"
    )
    print(f"warm parallelai mcp -> initialize: {warm['wall']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
