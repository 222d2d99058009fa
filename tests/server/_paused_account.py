"""A run whose provider account is paused: one OpenAI task against a scripted server whose first
answer is a 429 with a retry-after, so the daemon's rate gate for that account holds every request
for `PAUSE_S` (long enough to be seen; tests cancel the run once it has been)."""

from __future__ import annotations

from typing import Any

PAUSE_S = 40


def paused_run(url: str) -> dict[str, Any]:
    """One OpenAI task against `url`, whose first answer is a 429 that pauses the account."""
    return {
        "name": "paused account",
        "prompts": ["hello"],
        "engine": "openai:gpt-4.1",
        "engines": {
            "openai": {
                "base_url": f"{url}/v1",
                "api_key": "sk-test-0123456789",
                "rate_limits": {"requests_per_minute": 500},
            }
        },
    }
