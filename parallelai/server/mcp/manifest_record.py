"""Record the real MCP server's handshake and lists into `manifest.json` (see `manifest.py`).

    python -m parallelai.server.mcp.manifest_record

Run it after changing a tool, prompt or resource; the test that compares the two says so.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

from parallelai.server.mcp.front import Link
from parallelai.server.mcp.links import embedded_link
from parallelai.server.mcp.manifest import LISTS, MANIFEST_PATH

CLIENT_INFO = {"name": "parallelai-manifest-record", "version": "1"}


async def record_manifest() -> dict[str, Any]:
    """Ask a server in this process, on a scratch store, what a client would ask first, per protocol version."""
    initialize: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="parallelai-manifest-") as scratch:
        for version in HANDSHAKE_PROTOCOL_VERSIONS:
            async with embedded_link(Path(scratch) / "store.sqlite") as link:
                params = {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO}
                initialize[version] = await _ask(link, "initialize", params)
                await link.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
                answers = {method: await _ask(link, method, {}) for method in LISTS}
            if lists and answers != lists:
                raise RuntimeError(
                    f"the lists differ by protocol version ({version}): record them per version"
                )
            lists = answers
    return {"newest_version": LATEST_HANDSHAKE_VERSION, "initialize": initialize, "lists": lists}


async def _ask(link: Link, method: str, params: dict[str, Any]) -> dict[str, Any]:
    await link.send({"jsonrpc": "2.0", "id": method, "method": method, "params": params})
    while (message := await link.receive()) is not None:
        if message.get("id") == method:
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result
    raise RuntimeError(f"{method}: the server ended the session")


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    MANIFEST_PATH.write_text(manifest_text(anyio.run(record_manifest)), encoding="utf-8")
    print(f"wrote {MANIFEST_PATH}")


if __name__ == "__main__":
    main()
