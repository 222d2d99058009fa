"""A scripted model server for tests: real HTTP on 127.0.0.1, answers from a per-test script.

    with ScriptedModelServer(default_dialects()) as server:
        server.script(Reply("hello"), Failure(429, headers={"retry-after": "3"}))
        ...  # point a real CLI or client at server.url
        server.wait_for_requests(2, timeout=10)

In tests, use the `model_server` fixture from `tests.support.fixtures` instead.

Adding a dialect (one module per provider API, e.g. `openai.py`):

1. Write a class with a `name` and `routes(server) -> Sequence[BaseRoute]`. Each model route's
   handler does `recorded, turn = await server.take(request)` (which records the request and
   pops its turn) and returns `await server.respond(turn, rendering, stream=...)`.
2. `rendering` implements `server.Rendering` for that request: `media_type` of the stream,
   `chunks(answer)` (SSE events or NDJSON lines as bytes), `body(answer)` (the non-streamed JSON)
   and `error(failure)` (the provider's error JSON). `answer` is a `Reply` or a `ToolCall`;
   `respond` already handles `Failure` status/headers, `Slow` pacing and `Hang`.
3. Add the module to `_DIALECT_MODULES` below; `default_dialects()` then serves it too.

Routes that are not model turns (model lists, token counts) answer directly and do not call
`take`, so they never consume the script. GET/HEAD on any path not claimed by a dialect answers
200: CLIs probe connectivity before they start.
"""

from __future__ import annotations

from importlib import import_module

from tests.support.model_server.script import (
    Failure,
    FromRequest,
    Hang,
    Reply,
    Scripted,
    Slow,
    ToolCall,
    Turn,
)
from tests.support.model_server.server import Dialect, RecordedRequest, Rendering, ScriptedModelServer

# module: class. A module missing here (not written yet) is skipped, so dialects can land one by one.
_DIALECT_MODULES = {
    "anthropic": "AnthropicDialect",
    "openai": "OpenAIDialect",
    "gemini": "GeminiDialect",
    "ollama": "OllamaDialect",
}


def default_dialects() -> list[Dialect]:
    """One instance of every dialect module present in this package."""
    dialects: list[Dialect] = []
    for module_name, class_name in _DIALECT_MODULES.items():
        try:
            module = import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module_name}":
                raise  # the module exists but imports something missing: that is a bug to see
            continue
        dialects.append(getattr(module, class_name)())
    return dialects


__all__ = [
    "Dialect",
    "Failure",
    "FromRequest",
    "Hang",
    "RecordedRequest",
    "Rendering",
    "Reply",
    "Scripted",
    "ScriptedModelServer",
    "Slow",
    "ToolCall",
    "Turn",
    "default_dialects",
]
