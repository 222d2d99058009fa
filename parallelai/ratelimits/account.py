"""Which provider account a request spends: provider, endpoint and a fingerprint of the key, never the key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    """One provider account as the rate gate knows it; two engines on one key share its limits."""

    provider: str  # "openai", "anthropic", "ollama"...
    endpoint: str  # the base URL: a gateway or a local server is an account of its own
    key_id: str  # a short hash of the key (or "" without one): tells keys apart, reveals none

    def __str__(self) -> str:
        key = f" key {self.key_id}" if self.key_id else ""
        return f"{self.provider} at {self.endpoint}{key}"


def key_fingerprint(key: str | None) -> str:
    """12 hex digits of SHA-256 over the key: enough to tell a user's keys apart, useless to an attacker."""
    if not key:
        return ""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


# The providers' public endpoints, named once: an API engine and a CLI agent on the same key and
# endpoint are one account, and must name it alike.
ANTHROPIC_API = "https://api.anthropic.com"
OPENAI_API = "https://api.openai.com/v1"


def account_for(provider: str, endpoint: str, key: str | None) -> Account:
    return Account(provider, endpoint.rstrip("/"), key_fingerprint(key))
