"""The local backend: every attempt runs in the coordinator's own process, as it always has."""

from __future__ import annotations

from typing import Final

LOCAL: Final = "local"
