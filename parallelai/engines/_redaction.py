"""Keeping secrets out of what engines say: results, errors and events are scrubbed of known keys."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from parallelai.engines.base import Activity, Emit, EngineEvent, TextDelta
from parallelai.models import TaskResult

MASK = "[redacted]"
# Environment names whose values are credentials, whatever the provider.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The values in `env` whose names look like credentials (`ANTHROPIC_API_KEY`, `GH_TOKEN`)."""
    return [env[name] for name in env if _SECRET_NAME.search(name)]


class Redactor:
    """Replaces every known secret value in a text with a mask."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        values = {value for value in secrets if value and len(value) >= _MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is masked whole.
        self._pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
        self._empty = not values
        self._secrets = tuple(values)

    @classmethod
    def for_env(cls, env: Mapping[str, str], extra: Iterable[str | None] = ()) -> Redactor:
        """Every value in `env` whose name looks like a credential, plus `extra`."""
        return cls([*secrets_in(env), *extra])

    def __call__(self, text: str) -> str:
        return text if self._empty or not text else self._pattern.sub(MASK, text)

    def emit(self, emit: Emit) -> Emit:
        """`emit`, with the text of every event scrubbed first."""

        def scrubbed(event: EngineEvent) -> None:
            if isinstance(event, TextDelta):
                event = TextDelta(self(event.text))
            elif isinstance(event, Activity):
                event = Activity(event.kind, self(event.detail))
            emit(event)

        return scrubbed

    def stream(self, emit: Emit) -> StreamScrubber:
        """`emit` for a stream of text deltas, in which a secret may arrive split across two."""
        return StreamScrubber(self, emit)

    def unfinished(self, text: str) -> int:
        """How many characters at the end of `text` could be the start of a secret (0: none)."""
        longest = 0
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(text)), longest, -1):
                if text.endswith(secret[:size]):
                    longest = size
                    break
        return longest

    def result(self, result: TaskResult) -> TaskResult:
        """`result` with its text and error message scrubbed."""
        error = (
            result.error.model_copy(update={"message": self(result.error.message)}) if result.error else None
        )
        return result.model_copy(update={"text": self(result.text), "error": error})


class StreamScrubber:
    """An `Emit` that masks secrets in a stream of text deltas, also one split across deltas: the end
    of the text that could begin a secret is held back until the next delta shows whether it does.
    Call `flush` once the stream has ended, to emit what is still held."""

    def __init__(self, redact: Redactor, emit: Emit) -> None:
        self._redact = redact
        self._emit = emit
        self._held = ""

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, TextDelta):
            text = self._redact(self._held + event.text)
            keep = self._redact.unfinished(text)
            self._held = text[len(text) - keep :]
            if len(text) > keep:
                self._emit(TextDelta(text[: len(text) - keep]))
            return
        if isinstance(event, Activity):
            event = Activity(event.kind, self._redact(event.detail))
        self._emit(event)

    def flush(self) -> None:
        if self._held:
            self._emit(TextDelta(self._held))
            self._held = ""
