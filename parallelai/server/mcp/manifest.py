"""`Manifest`: what the MCP server answers to `initialize` and to the lists of its tools, prompts and resources.

Recorded from the real server into `manifest.json` by `python -m parallelai.server.mcp.manifest_record`
(a test fails, and says to run it, when the two differ), so the stdio front can answer the first
requests of a session without importing the MCP SDK or waiting for the daemon.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
# Requests whose answer never changes while a server runs, and the methods the front answers itself.
LISTS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")


class Manifest:
    def __init__(self, recorded: dict[str, Any]) -> None:
        self.recorded = recorded
        self._initialize: dict[str, dict[str, Any]] = recorded["initialize"]  # by protocol version
        self._lists: dict[str, dict[str, Any]] = recorded["lists"]
        self.newest_version = recorded["newest_version"]

    @classmethod
    def load(cls, path: Path = MANIFEST_PATH) -> Manifest:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def initialize(self, requested: object) -> dict[str, Any]:
        """The server's answer to `initialize`: the client's protocol version if it is one we speak."""
        version = (
            requested if isinstance(requested, str) and requested in self._initialize else self.newest_version
        )
        return self._initialize[version]

    def answer(self, method: object) -> dict[str, Any] | None:
        """The answer to a request the manifest holds, or None for one only the server can answer."""
        if method == "ping":
            return {}
        return self._lists.get(method) if isinstance(method, str) else None
