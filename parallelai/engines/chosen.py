"""Engines as Python objects: `ClaudeCode(model="sonnet")`, a name whose settings are checked when made.

`ClaudeCode()` means exactly what "claude-code" means, `OpenAI(model="gpt-4.1")` what
"openai:gpt-4.1" means. The other keyword arguments are the engine's settings, checked at once
against the model the engine declares (`ClaudeCodeSettings`, …), so a misspelt setting fails on
the line that wrote it rather than when a run starts. Whatever takes an engine name takes one of
these (`RunSettings.engine`, `Task.engine`, `ParallelOrchestrator`, `ParallelAI`): it becomes the
name, and its settings go where that engine's settings go (`models.EngineObject`).

`EngineChoice("my-engine", **settings)` does the same for any installed engine, a plugin's too.
Making one reads the entry points and imports that engine's module; importing this one does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr, ValidationError

from parallelai.errors import InputError, did_you_mean
from parallelai.models import EngineSpec


class EngineChoice:
    """An installed engine and its settings, e.g. `EngineChoice("openai", model="gpt-4.1")`.

    The name may be an alias (`chatgpt`) or carry the model (`openai:gpt-4.1`); it is kept as the
    registered name. Raises UnknownEngineError for a name that means no installed engine and
    InputError, naming the setting, for settings the engine does not accept.
    """

    __slots__ = ("_model", "_name", "_secret", "_settings")

    def __init__(self, name: str, /, **settings: Any) -> None:
        from parallelai.engines.registry import default_registry  # reads entry points: only now

        registry = default_registry()
        spec = EngineSpec.parse(name)
        if spec.model and settings.get("model"):
            raise InputError(f"{self._label(name)}: give the model once, in the name or as `model=`")
        self._name = registry.canonical(spec.name)
        self._model: str | None = settings.pop("model", None) or spec.model
        self._settings = dict(settings)
        declared = registry.settings_model(self._name)
        checked = self._check(declared) if declared is not None else None
        # Secrets stay out of reprs (notebooks, logs); the run gets them as given.
        self._secret = frozenset(
            key for key in self._settings if isinstance(getattr(checked, key, None), SecretStr)
        )

    @property
    def name(self) -> str:
        """The engine's registered name, e.g. `claude-code`."""
        return self._name

    @property
    def model(self) -> str | None:
        return self._model

    @property
    def spec(self) -> str:
        """What this engine is called where a name is given: `name[:model]`."""
        return str(EngineSpec(name=self._name, model=self._model))

    @property
    def settings(self) -> Mapping[str, Any]:
        """The settings given (the model apart: it is in `spec`); the engine's defaults fill the rest."""
        return dict(self._settings)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EngineChoice):
            return NotImplemented
        return (self.spec, self._settings) == (other.spec, other._settings)

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        shown = {**({"model": self._model} if self._model else {}), **self._settings}
        given = [f"{key}={'***' if key in self._secret else repr(value)}" for key, value in shown.items()]
        head = [] if isinstance(self, _Builtin) else [repr(self._name)]
        return f"{type(self).__name__}({', '.join([*head, *given])})"

    def _check(self, declared: type[BaseModel]) -> BaseModel:
        given = {**({"model": self._model} if self._model else {}), **self._settings}
        try:
            return declared.model_validate(given)
        except ValidationError as error:
            raise InputError(self._problem(error, declared)) from None

    def _problem(self, error: ValidationError, declared: type[BaseModel]) -> str:
        problem = error.errors()[0]
        label = self._label(self._name)
        where = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            known = list(declared.model_fields)
            return (
                f"{label}: `{where}` is not a setting of the {self._name} engine"
                f"{did_you_mean(where, known)}; its settings are: {', '.join(known)}"
            )
        message = str(problem["msg"]).removeprefix("Value error, ")
        return f"{label}: `{where}`: {message}" if where else f"{label}: {message}"

    def _label(self, name: str) -> str:
        return f"{type(self).__name__}()" if isinstance(self, _Builtin) else f"EngineChoice({name!r})"


class _Builtin(EngineChoice):
    """One of the engines parallelai ships, named by its class."""

    __slots__ = ()
    engine: ClassVar[str]

    def __init__(self, **settings: Any) -> None:
        super().__init__(self.engine, **settings)


class _WithModel(_Builtin):
    __slots__ = ()

    def __init__(self, *, model: str | None = None, **settings: Any) -> None:
        super().__init__(model=model, **settings)


class ClaudeCode(_WithModel):
    """Claude Code's CLI, `claude-code`; settings: docs/engines/claude-code.md (`ClaudeCodeSettings`)."""

    __slots__ = ()
    engine = "claude-code"


class Codex(_WithModel):
    """OpenAI's Codex CLI, `codex`; settings: docs/engines/codex.md (`CodexSettings`)."""

    __slots__ = ()
    engine = "codex"


class GeminiCli(_WithModel):
    """Google's Gemini CLI, `gemini-cli`; settings: docs/engines/gemini-cli.md (`GeminiCliSettings`)."""

    __slots__ = ()
    engine = "gemini-cli"


class Copilot(_WithModel):
    """GitHub Copilot's CLI, `copilot`; settings: docs/engines/copilot.md (`CopilotSettings`)."""

    __slots__ = ()
    engine = "copilot"


class Cursor(_WithModel):
    """Cursor's agent CLI, `cursor`; settings: docs/engines/cursor.md (`CursorSettings`)."""

    __slots__ = ()
    engine = "cursor"


class OpenAI(_WithModel):
    """OpenAI's API (or one like it), `openai`; settings: docs/engines/openai.md (`OpenAISettings`).
    It needs a model: `OpenAI(model="gpt-4.1")`."""

    __slots__ = ()
    engine = "openai"


# The announcement's name for it.
ChatGPT = OpenAI


class Anthropic(_WithModel):
    """Anthropic's Messages API, `anthropic`; settings: docs/engines/anthropic.md (`AnthropicSettings`)."""

    __slots__ = ()
    engine = "anthropic"


class Ollama(_WithModel):
    """A local Ollama server, `ollama`; settings: docs/engines/ollama.md (`OllamaSettings`).
    It needs a model: `Ollama(model="llama3.2")`."""

    __slots__ = ()
    engine = "ollama"


class Acp(_Builtin):
    """Any Agent Client Protocol agent over stdio, `acp`: `Acp(command=["gemini", "--experimental-acp"])`;
    settings: docs/engines/acp.md (`AcpSettings`)."""

    __slots__ = ()
    engine = "acp"


class Command(_Builtin):
    """Any command line, `command`: `Command(argv=["my-agent", "{prompt}"])` or `Command(shell=…)`;
    settings: `CommandSettings` in parallelai/engines/command.py."""

    __slots__ = ()
    engine = "command"


class Echo(_Builtin):
    """The stand-in agent for dry runs, `echo`: canned answers, e.g. `Echo(reply="ok", latency=0.5)`;
    settings: `EchoSettings` in parallelai/engines/echo.py."""

    __slots__ = ()
    engine = "echo"
