"""Each engine as the contract sees it: how to build it against the scripted server, and what it speaks."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from parallelai.models import ErrorKind
from tests.support.model_server import Failure, Reply, ToolCall, Turn
from tests.support.model_server.openai import rate_limited

API_KEY = "sk-contract-test-0123456789abcdef"  # every engine gets this key; none may repeat it


class Sentence(enum.Enum):
    """The contract's sentences an adapter can opt out of (with its reason)."""

    USAGE = "usage and cost are reported"
    TOOLS = "a tool call runs in the workdir"
    SCHEMA = "an output schema gives a structured answer"
    OVERLOADED = "an overloaded provider is a retryable error"
    BAD_REQUEST = "a bad request is fatal and keeps its cause"
    RATE_LIMIT = "a rate limit is retryable with its wait"
    TIMEOUT = "a run past its timeout option is a timeout error"
    PROCESS_TREE = "a timeout or cancel stops every process the agent started"
    CANCEL_HUNG = "cancelling a hung run returns and the engine still answers"
    SECRETS_IN_ANSWERS = "the API key never appears in an answer or its events"


@dataclass(frozen=True)
class Setup:
    """What an adapter builds its settings from: the server, the CLI, and a private root for homes."""

    server_url: str
    binary: Path | None
    root: Path  # homes / config dirs live here, so its path marks the engine's processes


@dataclass(frozen=True)
class Tool:
    """A tool call in the engine's own tool names, and the settings that let it run unasked."""

    call: Callable[[Any], Turn]
    settings: Mapping[str, Any] = field(default_factory=dict)


def times(count: int, status: int, **failure: Any) -> Callable[[str], Sequence[Turn]]:
    """`count` identical failures: enough to outlast the CLI's own retries."""
    return lambda message: [Failure(status, message, **failure)] * count


@dataclass(frozen=True, kw_only=True)
class Adapter:
    """One engine under the contract. `skips` names the sentences that do not apply, with why."""

    id: str
    name: str  # its entry point in the `parallelai.engines` group
    dialect: str  # the scripted server's dialect it speaks, for the reader
    cli: str | None  # the real CLI under .tools/npm it drives, if any
    settings: Callable[[Setup], dict[str, Any]]
    model: str | None
    path: str  # where its first model request goes
    auth: tuple[str, str]  # the header that carries API_KEY, and its value
    cost: float | None  # of 1000 input and 500 output tokens; None: the CLI prices them itself
    sessions: bool = False  # reports a session id to resume
    removes_home: bool = False  # a throwaway home per attempt, gone when the attempt ends
    write: Tool | None = None  # writes "done\n" to the given path
    shell: Tool | None = None  # runs the given shell command
    schema: Callable[[dict[str, Any]], Sequence[Turn]] | None = None
    sent_schema: Callable[[Any], Any] | None = None  # where the schema is in the request body
    rate_limit: Sequence[Turn]
    rate_limit_wait: float | None  # what the engine reports as the wait
    rate_limit_signalled: bool = True  # whether it emits a RateLimitSignal (with that wait)
    failures: Mapping[ErrorKind, Callable[[str], Sequence[Turn]]]
    reworded: frozenset[ErrorKind] = frozenset()  # kinds whose message the CLI words itself
    timeout_s: float = 1.5
    version: str | None = None
    unusable: Callable[[pytest.MonkeyPatch], dict[str, Any]]
    unusable_hint: str
    registry_settings: Mapping[str, Any] = field(default_factory=dict)
    skips: Mapping[Sentence, str] = field(default_factory=dict)
    known_gaps: Mapping[Sentence, str] = field(default_factory=dict)  # sentences it fails today (xfail)
    prepare: Callable[[Setup], None] = lambda setup: None


def by_status(overloaded: int = 503) -> dict[ErrorKind, Callable[[str], Sequence[Turn]]]:
    """One failure each, by the HTTP status that means the kind (an overload is 529 for Anthropic)."""
    return {ErrorKind.AUTH: times(1, 401), ErrorKind.OVERLOADED: times(1, overloaded),
            ErrorKind.BAD_REQUEST: times(1, 400)}  # fmt: skip


def _missing_binary(binary: str) -> Callable[[pytest.MonkeyPatch], dict[str, Any]]:
    return lambda monkeypatch: {"binary": f"/nonexistent/{binary}"}


def _without_env(*names: str, **settings: Any) -> Callable[[pytest.MonkeyPatch], dict[str, Any]]:
    def unusable(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        for name in names:
            monkeypatch.delenv(name, raising=False)
        return dict(settings)

    return unusable


def _ollama_down(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # the discard port: nothing listens there
    return {}


def _json_answer(schema: dict[str, Any]) -> Sequence[Turn]:
    return [Reply(json.dumps({"answer": 42}))]


_NO_PROCESS = "no process of its own: the request is cancelled in the engine's task"
_NO_TOOLS = "an API engine runs no tools; it only asks the model"
_TREE_COVERS_CANCEL = "the process-tree sentence cancels it while a tool's shell runs"
_SCHEDULER_TIMES_OUT = (
    "it leaves the task's timeout to the scheduler, which cancels the run (the cancel sentence)"
)

CLAUDE_CODE = Adapter(
    id="claude-code",
    name="claude-code",
    dialect="anthropic",
    cli="claude",
    settings=lambda s: {
        "binary": str(s.binary),
        "base_url": s.server_url,
        "api_key": API_KEY,
        "config_root": str(s.root),
        "inherit_config_from": "",  # never the developer's own ~/.claude
        "cli_max_retries": 0,
        "launch_interval_s": 0,
    },
    model=None,
    path="/v1/messages",
    auth=("x-api-key", API_KEY),
    cost=None,
    sessions=True,
    write=Tool(
        lambda path: ToolCall("Write", {"file_path": str(path), "content": "done\n"}, call_id="toolu_1"),
        {"allowed_tools": ["Write"]},
    ),
    shell=Tool(lambda command: ToolCall("Bash", {"command": command}), {"allowed_tools": ["Bash"]}),
    schema=lambda schema: [ToolCall("StructuredOutput", {"answer": 42}, call_id="toolu_1"), Reply("done")],
    rate_limit=[
        Failure(429, "Number of requests has exceeded your rate limit", headers={"retry-after": "3"})
    ],
    rate_limit_wait=None,
    rate_limit_signalled=False,  # only the CLI's own retries signal a wait (cli_max_retries is 0 here)
    failures=by_status(overloaded=529),
    version="2.1.197",
    unusable=_missing_binary("claude"),
    unusable_hint="npm install -g @anthropic-ai/claude-code",
    registry_settings={"binary": "claude"},
    skips={Sentence.CANCEL_HUNG: _TREE_COVERS_CANCEL},
)

CODEX = Adapter(
    id="codex",
    name="codex",
    dialect="openai (Responses API)",
    cli="codex",
    settings=lambda s: {
        "binary": str(s.binary),
        "base_url": f"{s.server_url}/v1",
        "api_key": API_KEY,
        "home_root": str(s.root),
        "inherit_home_from": "",  # never the developer's own ~/.codex
        "cli_max_retries": 0,  # codex would otherwise retry a 429 itself, several times
    },
    model="gpt-4.1",
    path="/v1/responses",
    auth=("authorization", f"Bearer {API_KEY}"),
    cost=(1000 * 2.0 + 500 * 8.0) / 1e6,
    sessions=True,
    removes_home=True,
    write=Tool(lambda path: ToolCall("exec_command", {"cmd": f"echo done > {path}"})),
    shell=Tool(lambda command: ToolCall("exec_command", {"cmd": command}), {"sandbox": "danger-full-access"}),
    schema=_json_answer,
    sent_schema=lambda body: body["text"]["format"]["schema"],
    rate_limit=[rate_limited(1)],
    rate_limit_wait=None,  # codex does not pass the server's wait on
    failures=by_status(),
    version="0.169.0",
    unusable=_missing_binary("codex"),
    unusable_hint="npm install",
    skips={Sentence.CANCEL_HUNG: _TREE_COVERS_CANCEL},
    known_gaps={
        Sentence.BAD_REQUEST: "known gap: codex reports the API's 400 without its status, "
        "so the engine classifies it as an execution failure"
    },
)

COPILOT = Adapter(
    id="copilot",
    name="copilot",
    dialect="openai (Chat Completions)",
    cli="copilot",
    settings=lambda s: {
        "binary": str(s.binary),
        "base_url": f"{s.server_url}/v1",
        "api_key": API_KEY,
        "home_root": str(s.root),
        "inherit_home_from": "",  # never the developer's own ~/.copilot
    },
    model="gpt-4.1",
    path="/v1/chat/completions",
    auth=("authorization", f"Bearer {API_KEY}"),
    cost=(1000 * 2.0 + 500 * 8.0) / 1e6,
    sessions=True,
    removes_home=True,
    # Only the write tool is allowed: copilot refuses the others without asking anyone.
    write=Tool(
        lambda path: ToolCall("create", {"path": str(path), "file_text": "done\n"}),
        {"allow_tools": ["write"]},
    ),
    shell=Tool(
        lambda command: ToolCall("bash", {"command": command, "description": "wait"}),
        {"allow_all_tools": True},
    ),
    # copilot retries a 429 five times itself (waiting at least a second each time; no setting
    # turns that off), so the script refuses six times to let the attempt fail.
    rate_limit=[rate_limited(0)] * 6,
    rate_limit_wait=None,  # copilot already waited out the retry-after
    failures={
        ErrorKind.AUTH: times(3, 401),  # copilot retries a 401 twice (it may refresh a token)
        ErrorKind.BAD_REQUEST: times(1, 400),
    },
    reworded=frozenset({ErrorKind.AUTH}),  # "Authentication failed": the server's text is not passed on
    version="1.0.102",
    unusable=_missing_binary("copilot"),
    unusable_hint="npm install",
    skips={
        Sentence.SCHEMA: "copilot's CLI has no way to constrain its answer to a schema",
        Sentence.OVERLOADED: "copilot retries a 5xx itself, backing off for about 20 s; no setting turns that off",
        Sentence.CANCEL_HUNG: _TREE_COVERS_CANCEL,
    },
)

_GEMINI_MODEL = "gemini-2.5-flash"  # named, so the CLI skips its model-routing request

GEMINI_CLI = Adapter(
    id="gemini-cli",
    name="gemini-cli",
    dialect="gemini",
    cli="gemini",
    settings=lambda s: {
        "binary": str(s.binary),
        "base_url": s.server_url,
        "api_key": API_KEY,
        "home_root": str(s.root),
        "inherit_home_from": "",  # never the developer's own ~/.gemini
        "cli_max_attempts": 1,  # the CLI would otherwise back off and retry a 429 for minutes
    },
    model=_GEMINI_MODEL,
    path=f"/v1beta/models/{_GEMINI_MODEL}:streamGenerateContent",
    auth=("x-goog-api-key", API_KEY),
    cost=(1000 * 0.3 + 500 * 2.5) / 1e6,
    sessions=True,
    removes_home=True,
    # The default approval mode offers no write tools; auto_edit does, and approves them.
    write=Tool(
        lambda path: ToolCall("write_file", {"file_path": str(path), "content": "done\n"}),
        {"approval_mode": "auto_edit"},
    ),
    shell=Tool(
        lambda command: ToolCall("run_shell_command", {"command": command}), {"approval_mode": "yolo"}
    ),
    rate_limit=[Failure(429, "Quota exceeded", headers={"retry-after": "7"})],
    rate_limit_wait=7.0,  # from the RetryInfo the API puts in its error body
    failures=by_status(),
    timeout_s=3,
    version="0.61.0",
    unusable=_missing_binary("gemini"),
    unusable_hint="npm install",
    skips={
        Sentence.SCHEMA: "gemini-cli has no way to constrain its answer to a schema",
        Sentence.CANCEL_HUNG: _TREE_COVERS_CANCEL,
    },
)


def _acp_home(setup: Setup) -> None:
    (setup.root / ".gemini").mkdir(parents=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    (setup.root / ".gemini" / "settings.json").write_text(json.dumps(settings))


ACP = Adapter(
    id="acp",
    name="acp",
    dialect="gemini (the agent is `gemini --experimental-acp`)",
    cli="gemini",
    prepare=_acp_home,
    settings=lambda s: {
        "command": [str(s.binary), "--experimental-acp", "-m", _GEMINI_MODEL],
        "env": {
            "GEMINI_CLI_HOME": str(s.root),
            "GEMINI_API_KEY": API_KEY,
            "GOOGLE_GEMINI_BASE_URL": s.server_url,
            "NO_COLOR": "1",
        },
        "kill_grace_s": 0.5,
    },
    model=None,
    path=f"/v1beta/models/{_GEMINI_MODEL}:streamGenerateContent",
    auth=("x-goog-api-key", API_KEY),
    cost=None,
    sessions=True,
    write=Tool(lambda path: ToolCall("write_file", {"file_path": str(path), "content": "done\n"})),
    shell=Tool(lambda command: ToolCall("run_shell_command", {"command": command})),
    rate_limit=[Failure(429, "Resource has been exhausted")],
    rate_limit_wait=None,
    failures={
        # The Gemini API answers a bad key with a 400 that says so; the agent passes on only its text.
        ErrorKind.AUTH: lambda message: [Failure(400, f"API key not valid. {message}")],
        ErrorKind.BAD_REQUEST: times(1, 400),
    },
    timeout_s=3,
    version="0.61.0",
    unusable=lambda monkeypatch: {"command": ["/nonexistent/agent", "--experimental-acp"]},
    unusable_hint="install the agent",
    registry_settings={"command": ["gemini", "--experimental-acp"]},
    skips={
        Sentence.USAGE: "ACP reports no token usage",
        Sentence.SCHEMA: "ACP has no way to ask for a structured answer",
        Sentence.RATE_LIMIT: "the agent retries a 429 itself with its own back-off, and answers; nothing turns "
        "that off over ACP (test_acp.py classifies the limit it passes on as text)",
        Sentence.OVERLOADED: "the agent retries a 503 with its own back-off, for minutes; nothing turns that off",
        Sentence.CANCEL_HUNG: _TREE_COVERS_CANCEL,
    },
)


def _openai(api: str) -> Adapter:
    return Adapter(
        id=f"openai-{api}",
        name="openai",
        dialect=f"openai ({'Chat Completions' if api == 'chat' else 'Responses API'})",
        cli=None,
        settings=lambda s: {"base_url": f"{s.server_url}/v1", "api_key": API_KEY, "api": api},
        model="gpt-4.1",
        path="/v1/chat/completions" if api == "chat" else "/v1/responses",
        auth=("authorization", f"Bearer {API_KEY}"),
        cost=(1000 * 2.0 + 500 * 8.0) / 1e6,  # gpt-4.1 list price
        schema=_json_answer,
        sent_schema=(
            (lambda body: body["response_format"]["json_schema"]["schema"])
            if api == "chat"
            else (lambda body: body["text"]["format"]["schema"])
        ),
        rate_limit=[rate_limited(2.5)],
        rate_limit_wait=2.5,
        failures=by_status(),
        timeout_s=0.5,
        unusable=_without_env("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        unusable_hint="OPENAI_API_KEY",
        skips={
            Sentence.TOOLS: _NO_TOOLS,
            Sentence.PROCESS_TREE: _NO_PROCESS,
            Sentence.TIMEOUT: _SCHEDULER_TIMES_OUT,
        },
    )


ANTHROPIC = Adapter(
    id="anthropic",
    name="anthropic",
    dialect="anthropic",
    cli=None,
    settings=lambda s: {"base_url": s.server_url, "api_key": API_KEY},
    model="claude-sonnet-4-5",
    path="/v1/messages",
    auth=("x-api-key", API_KEY),
    cost=(1000 * 3.0 + 500 * 15.0) / 1e6,
    schema=lambda schema: [ToolCall("structured_output", {"answer": 42})],
    sent_schema=lambda body: body["tools"][0]["input_schema"],
    rate_limit=[
        Failure(
            429,
            "Number of request tokens has exceeded your per-minute rate limit",
            headers={"retry-after": "7"},
        )
    ],
    rate_limit_wait=7.0,
    failures=by_status(overloaded=529),
    timeout_s=0.5,
    unusable=_without_env("ANTHROPIC_API_KEY"),
    unusable_hint="ANTHROPIC_API_KEY",
    skips={Sentence.TOOLS: _NO_TOOLS, Sentence.PROCESS_TREE: _NO_PROCESS},
)

OLLAMA = Adapter(
    id="ollama",
    name="ollama",
    dialect="ollama",
    cli=None,
    settings=lambda s: {
        "base_url": s.server_url,
        "api_key": API_KEY,  # as for a hosted or proxied Ollama
        "model": "llama3.2",
        "prices": {"llama3.2": {"input": 0.1, "output": 0.2}},  # local models are free
    },
    model="llama3.2",
    path="/api/chat",
    auth=("authorization", f"Bearer {API_KEY}"),
    cost=(1000 * 0.1 + 500 * 0.2) / 1e6,
    schema=_json_answer,
    sent_schema=lambda body: body["format"],
    rate_limit=[Failure(429, "too many requests", headers={"retry-after": "4"})],
    rate_limit_wait=4.0,
    failures=by_status(),
    timeout_s=0.5,
    version="0.12.6",
    unusable=_ollama_down,
    unusable_hint="ollama serve",
    skips={
        Sentence.TOOLS: _NO_TOOLS,
        Sentence.PROCESS_TREE: _NO_PROCESS,
        Sentence.TIMEOUT: _SCHEDULER_TIMES_OUT,
    },
)

# Not here: cursor (its CLI is in no registry, and the fake standing in for it does not talk to
# the model server, so no scripted turn reaches it), echo and command (no model behind them).
ADAPTERS = [
    CLAUDE_CODE,
    CODEX,
    COPILOT,
    GEMINI_CLI,
    ACP,
    _openai("chat"),
    _openai("responses"),
    ANTHROPIC,
    OLLAMA,
]
