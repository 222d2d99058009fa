"""A simulated rate-limited provider for bench case (i): OpenAI Chat Completions on 127.0.0.1.

It enforces requests and tokens per minute as token buckets that hold `burst_s` seconds of their
rate (providers enforce "3,000 RPM" at sub-minute granularity and refuse bursts), answers each
request with the `x-ratelimit-*` headers OpenAI sends, and refuses one that finds a bucket short
with a 429, `retry-after-ms` (until the bucket can take it) and `retry-after` (whole seconds).
An accepted request streams a short answer after `latency` seconds.

    python -m bench.provider_sim --rpm 3000 --tpm 1000000   # prints its URL, serves until killed

`GET /stats` answers what it counted: requests accepted and refused, first and last arrival.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ANSWER_TOKENS = 20


@dataclass(slots=True)
class Bucket:
    rate: float  # per second
    capacity: float
    level: float
    at: float

    def refill(self, now: float) -> None:
        self.level, self.at = min(self.capacity, self.level + (now - self.at) * self.rate), now

    def reset_s(self) -> float:
        """Until the bucket is full again: what OpenAI's `x-ratelimit-reset-*` says."""
        return max(self.capacity - self.level, 0.0) / self.rate


def _duration(seconds: float) -> str:
    """OpenAI's way: "20ms", "1.5s", "1m0s"."""
    if seconds < 1:
        return f"{max(round(seconds * 1000), 1)}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.1f}s" if minutes else f"{rest:.2f}s"


class Provider:
    def __init__(self, rpm: float, tpm: float, burst_s: float, latency: tuple[float, float]) -> None:
        now = time.monotonic()
        self.rpm, self.tpm = rpm, tpm
        self.requests = Bucket(rpm / 60, rpm / 60 * burst_s, rpm / 60 * burst_s, now)
        self.tokens = Bucket(tpm / 60, tpm / 60 * burst_s, tpm / 60 * burst_s, now)
        self.latency = latency
        self.accepted = self.refused = 0
        self.first_at: float | None = None
        self.last_at = 0.0
        self.rng = random.Random(7)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": f"{self.rpm:.0f}",
            "x-ratelimit-remaining-requests": f"{max(math.floor(self.requests.level), 0)}",
            "x-ratelimit-reset-requests": _duration(self.requests.reset_s()),
            "x-ratelimit-limit-tokens": f"{self.tpm:.0f}",
            "x-ratelimit-remaining-tokens": f"{max(math.floor(self.tokens.level), 0)}",
            "x-ratelimit-reset-tokens": _duration(self.tokens.reset_s()),
        }

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        prompt = "".join(str(message.get("content", "")) for message in body.get("messages", []))
        cost = len(prompt) // 4 + 1 + int(body.get("max_completion_tokens") or ANSWER_TOKENS)
        now = time.monotonic()
        self.first_at = now if self.first_at is None else self.first_at
        self.last_at = now
        self.requests.refill(now)
        self.tokens.refill(now)
        short = max(
            (1 - self.requests.level) / self.requests.rate, (cost - self.tokens.level) / self.tokens.rate
        )
        if short > 0:
            self.refused += 1
            headers = {
                **self.headers(),
                "retry-after-ms": f"{max(math.ceil(short * 1000), 1)}",
                "retry-after": f"{max(math.ceil(short), 1)}",
            }
            error = {
                "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
            }
            return JSONResponse(error, status_code=429, headers=headers)
        self.requests.level -= 1
        self.tokens.level -= cost
        self.accepted += 1
        headers = self.headers()
        tokens = len(prompt) // 4 + 1
        delay = self.rng.uniform(*self.latency)
        return StreamingResponse(
            _answer(body.get("model", "m"), tokens, delay), media_type="text/event-stream", headers=headers
        )

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "accepted": self.accepted,
                "refused": self.refused,
                "span_s": (self.last_at - self.first_at) if self.first_at is not None else 0.0,
            }
        )


async def _answer(model: str, prompt_tokens: int, delay: float) -> AsyncIterator[bytes]:
    await anyio.sleep(delay)
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "done"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": ANSWER_TOKENS, "total_tokens": 0},
        },
    ]
    for chunk in chunks:
        yield f"data: {json.dumps({'id': 'c', 'object': 'chat.completion.chunk', 'model': model, **chunk})}\n\n".encode()
    yield b"data: [DONE]\n\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bench.provider_sim", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rpm", type=float, default=3000)
    parser.add_argument("--tpm", type=float, default=1_000_000)
    parser.add_argument("--burst-s", type=float, default=1.0, help="seconds of its rate a bucket holds")
    parser.add_argument("--latency", type=float, nargs=2, default=(0.2, 0.6), metavar=("MIN", "MAX"))
    args = parser.parse_args(argv)
    provider = Provider(args.rpm, args.tpm, args.burst_s, tuple(args.latency))
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", provider.chat, methods=["POST"]),
            Route("/stats", provider.stats, methods=["GET"]),
        ]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
