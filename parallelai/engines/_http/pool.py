"""One pooled HTTP client per API engine, made on first use, so that parallel tasks share the
connections to their provider. Every request passes its own timeout (from the task's settings)."""

from __future__ import annotations

import httpx


class HttpPool:
    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
            self._client = httpx.AsyncClient(limits=limits)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
