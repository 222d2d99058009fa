"""What providers say about their limits: rate-limit headers and error bodies, read into `Window`s.

- Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
  the reset an RFC 3339 time at which the window is full again;
- OpenAI (and the many servers that copy it: Groq, Together, vLLM gateways...):
  `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset a duration such as `6m0s`,
  `1s` or `20ms`;
- Gemini: no headers, but a 429's body carries `RetryInfo.retryDelay` (`"37s"`).

Pure functions: the caller passes the wall-clock time (`now`, epoch seconds) that RFC 3339 resets
are measured against.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

Dimension = Literal["requests", "tokens", "input_tokens", "output_tokens"]
DIMENSIONS: tuple[Dimension, ...] = ("requests", "tokens", "input_tokens", "output_tokens")

_ANTHROPIC_WINDOWS: dict[str, Dimension] = {
    "requests": "requests",
    "tokens": "tokens",
    "input-tokens": "input_tokens",
    "output-tokens": "output_tokens",
}
_OPENAI_WINDOWS: dict[str, Dimension] = {"requests": "requests", "tokens": "tokens"}

# Go-style durations ("1h2m3.5s", "20ms") as OpenAI's resets and Gemini's retryDelay write them.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# The periods a published limit is counted over; anything shorter than 10 minutes is per minute.
_PERIODS = ((600.0, 60.0), (36_000.0, 3600.0), (math.inf, 86_400.0))


@dataclass(frozen=True, slots=True)
class Window:
    """One limit as a response reports it; any part may be missing."""

    limit: float | None = None
    remaining: float | None = None
    reset_s: float | None = None  # seconds until the window is full again

    @property
    def period_s(self) -> float:
        """What the limit is counted over. Providers publish per-minute limits, but some (Groq's
        requests) publish a daily one in the same header: the time a partly used window takes to
        fill again tells them apart."""
        limit, remaining, reset = self.limit, self.remaining, self.reset_s
        if limit is None or remaining is None or reset is None or remaining >= limit or reset <= 0:
            return 60.0
        refill = reset * limit / (limit - remaining)  # how long the whole limit takes to come back
        return next(period for bound, period in _PERIODS if refill < bound)

    @property
    def per_minute(self) -> float | None:
        return None if self.limit is None else self.limit * 60.0 / self.period_s


Reading = dict[Dimension, Window]


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "250ms") or a plain number of seconds; None if neither."""
    text = text.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_rfc3339(text: str, now: float) -> float | None:
    """Seconds from `now` (epoch) until an RFC 3339 time; None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(moment.timestamp() - now, 0.0)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def read_headers(headers: Mapping[str, str], now: float | None = None) -> Reading:
    """Every window the response's headers describe, Anthropic's and OpenAI's; {} when none."""
    lowered = {name.lower(): value for name, value in headers.items()}
    now = time.time() if now is None else now
    reading: Reading = {}
    for name, dimension in _ANTHROPIC_WINDOWS.items():
        prefix = f"anthropic-ratelimit-{name}-"
        reset = lowered.get(prefix + "reset")
        window = Window(
            _number(lowered.get(prefix + "limit")),
            _number(lowered.get(prefix + "remaining")),
            parse_rfc3339(reset, now) if reset else None,
        )
        if window != Window():
            reading[dimension] = window
    for name, dimension in _OPENAI_WINDOWS.items():
        reset = lowered.get(f"x-ratelimit-reset-{name}")
        window = Window(
            _number(lowered.get(f"x-ratelimit-limit-{name}")),
            _number(lowered.get(f"x-ratelimit-remaining-{name}")),
            parse_duration(reset) if reset else None,
        )
        if window != Window():
            reading.setdefault(dimension, window)
    return reading


def gemini_retry_delay(body: bytes | str | Mapping[str, Any]) -> float | None:
    """Seconds from the `google.rpc.RetryInfo` detail of a Gemini error body (`"retryDelay": "37s"`)."""
    if not isinstance(body, Mapping):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    error = body.get("error") if isinstance(body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, Mapping) or not str(detail.get("@type", "")).endswith("RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            return parse_duration(delay)
    return None


def requested_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the provider asks for: `retry-after-ms`, `retry-after` (seconds or HTTP date), else the
    longest `x-ratelimit-reset-*` (when the exhausted windows are full again); None when it says none.
    Unbounded: `inf` stays `inf`, for the ceiling (`ceiling.py`) to refuse."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if (millis := lowered.get("retry-after-ms")) is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    if (value := lowered.get("retry-after")) is not None:
        seconds = parse_duration(value)
        if seconds is not None:
            return seconds
        try:
            moment = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            return max(moment - (time.time() if now is None else now), 0.0)
    resets = [
        seconds
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if (text := lowered.get(name)) is not None and (seconds := parse_duration(text)) is not None
    ]
    return max(resets) if resets else None
