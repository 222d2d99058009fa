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

    def result(self, result: TaskResult) -> TaskResult:
        """`result` with its text and error message scrubbed."""
        error = (
            result.error.model_copy(update={"message": self(result.error.message)}) if result.error else None
        )
        return result.model_copy(update={"text": self(result.text), "error": error})
