"""The bad-input table: what a caller may send each surface, and what it must get back.

One row: a name, the surface (`http` a POST /v1/runs body unless `path` says otherwise, `cli` the
arguments of `parallelai run`, `tasks-file` a file `parallelai run --tasks-file` reads, `mcp` the
arguments of the `start_run` tool), the input, the expected outcome (`HTTP 422`, `exit 2`,
`tool error`) and a fragment of the message that must say what is wrong. Big inputs are made by
a function, so the table stays readable and the bytes exist only while their row runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from parallelai.models import MAX_PROMPT_CHARS, MAX_TASKS

Surface = Literal["http", "cli", "tasks-file", "mcp"]
DEEP = 100_000
# In inputs, `{tmp}` stands for the row's own temporary directory (allowed as a workdir).
TMP = "{tmp}"


@dataclass(frozen=True)
class BadInput:
    name: str
    surface: Surface
    input: bytes | list[str] | dict[str, Any] | Callable[[], bytes]
    expect: str
    says: str
    path: str = "/v1/runs"
    method: str = "POST"
    content_type: str = "application/json"
    last_event_id: bytes | None = None  # the Last-Event-ID header of an SSE request

    def data(self) -> bytes | list[str] | dict[str, Any]:
        return self.input() if callable(self.input) else self.input


def _body(**fields: Any) -> bytes:
    return json.dumps({"prompts": ["x"], **fields}).encode()


def _yaml_prompt(size: int) -> Callable[[], bytes]:
    return lambda: b"tasks:\n  - prompt: " + b"x" * size + b"\n"


def _http(name: str, body: bytes | Callable[[], bytes], expect: int, says: str, **extra: Any) -> BadInput:
    return BadInput(name, "http", body, f"HTTP {expect}", says, **extra)


def _cli(name: str, argv: list[str], says: str) -> BadInput:
    return BadInput(name, "cli", argv, "exit 2", says)


def _file(name: str, text: bytes | Callable[[], bytes], says: str) -> BadInput:
    return BadInput(name, "tasks-file", text, "exit 2", says)


def _mcp(name: str, arguments: dict[str, Any], says: str) -> BadInput:
    return BadInput(name, "mcp", arguments, "tool error", says)


NOT_JSON = "the body is not valid JSON"
SURROGATE = "lone surrogate"
TABLE: list[BadInput] = [
    # -- HTTP: bytes that are no JSON, or JSON no run is made of: 400/413/415/422, never a 500
    _http("lone high surrogate", b'{"prompts": ["\\ud800"]}', 400, NOT_JSON),
    _http("lone low surrogate", b'{"prompts": ["\\udc00x"]}', 400, NOT_JSON),
    _http("lone surrogate as a key", b'{"\\ud800": 1}', 400, NOT_JSON),
    _http("5,000-digit integer", b'{"prompts": ["x"], "retries": ' + b"9" * 5000 + b"}", 400, NOT_JSON),
    _http("5,000-digit integer alone", b"1" * 5000, 400, NOT_JSON),
    _http("1,000-digit integer", b'{"prompts": ["x"], "parallel": ' + b"9" * 1000 + b"}", 422, "parallel"),
    _http("arrays nested 100,000 deep", b"[" * DEEP + b"]" * DEEP, 400, NOT_JSON),
    _http("objects nested 100,000 deep", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400, NOT_JSON),
    _http("prompts nested 300 deep", b'{"prompts": ' + b"[" * 300 + b"]" * 300 + b"}", 400, NOT_JSON),
    _http("invalid UTF-8", b'{"prompts": ["\xff\xfe"]}', 400, NOT_JSON),
    _http("overlong UTF-8", b'{"prompts": ["\xc0\xaf"]}', 400, NOT_JSON),
    _http("UTF-8-encoded surrogate", b'{"prompts": ["\xed\xa0\x80"]}', 400, NOT_JSON),
    _http("UTF-16 body", '{"prompts": ["x"]}'.encode("utf-16"), 400, NOT_JSON),
    _http("NaN", b'{"prompts": ["x"], "max_cost_usd": NaN}', 400, NOT_JSON),
    _http("Infinity", b'{"prompts": ["x"], "max_cost_usd": Infinity}', 400, NOT_JSON),
    _http("a float past its range", b'{"prompts": ["x"], "max_cost_usd": 1e400}', 400, "finite"),
    _http("NUL byte outside a string", b'{"prompts": ["x"]}\x00', 400, NOT_JSON),
    _http("trailing garbage", b'{"prompts": ["x"]} {}', 400, NOT_JSON),
    _http("an empty body", b"", 400, "empty"),
    _http("a bare string", b'"prompts"', 422, "should be an object"),
    _http("null", b"null", 422, "should be an object"),
    _http("nothing to run", b"{}", 422, "nothing to run"),
    _http("two sources of work", _body(tasks=["y"]), 422, "one source of work"),
    _http("a misspelt field", _body(promts=["y"]), 422, "promts"),
    _http("retries: false", _body(retries=False), 422, "retries"),
    _http("retries: true", _body(retries=True), 422, "retries"),
    _http("retries as a string", _body(retries="2"), 422, "retries"),
    _http("retries as a fraction", _body(retries=1.5), 422, "retries"),
    _http("negative retries", _body(retries=-1), 422, "retries"),
    _http("no parallelism", _body(parallel=0), 422, "parallel"),
    _http("a negative timeout", _body(timeout=-1), 422, "timeout"),
    _http("a prompt that is a number", b'{"prompts": [1]}', 422, "prompts.0"),
    _http("an object for the prompts", b'{"prompts": {"a": "b"}}', 422, "prompts"),
    _http("no prompt at all", b'{"prompts": []}', 422, "at least one task"),
    _http("an empty prompt", b'{"prompts": ["  "]}', 422, "the prompt is empty"),
    _http(
        "a prompt past 1,000,000 characters",
        lambda: _body(prompts=["x" * (MAX_PROMPT_CHARS + 1)]),
        422,
        "more than 1,000,000",
    ),
    _http("a 50 MB prompt", lambda: _body(prompts=["x" * 50_000_000]), 413, "larger than"),
    _http(f"{MAX_TASKS + 1:,} tasks", lambda: _body(prompts=["x"] * (MAX_TASKS + 1)), 422, "at most 100,000"),
    _http("latency=inf", _body(engines={"echo": {"latency": "inf"}}), 422, "latency"),
    _http("retry_after past its bound", _body(engines={"echo": {"retry_after": 10**9}}), 422, "retry_after"),
    _http("output_size=1e14", _body(engines={"echo": {"output_size": 10**14}}), 422, "output_size"),
    _http("settings for an engine that does not exist", _body(engines={"nope": {"a": 1}}), 422, "nope"),
    _http("an engine that does not exist", _body(engine="nope"), 422, "unknown engine 'nope'"),
    _http("a relative workdir", _body(workdir="project"), 422, "is not an absolute path"),
    _http("a missing workdir", _body(workdir=f"{TMP}/missing"), 422, "does not exist"),
    _http("a workdir outside the roots", _body(workdir="/"), 422, "is not under the directories"),
    _http("a body that is not JSON", b'{"prompts": ["x"]}', 415, "Content-Type", content_type="text/plain"),
    _http("a lone surrogate to retry", b'{"tasks": ["\\ud800"]}', 400, NOT_JSON, path="/v1/runs/nope/retry"),
    _http("TRACE", b"", 405, "Method Not Allowed", method="TRACE"),
    _http("a list of no length", b"", 422, "limit", path="/v1/runs?limit=0", method="GET"),
    _http("a list of too many", b"", 422, "limit", path="/v1/runs?limit=1001", method="GET"),
    _http(
        "events after a seq SQLite cannot hold",
        b"",
        422,
        "after",
        path=f"/v1/events?after={10**19}",
        method="GET",
    ),
    _http("events after no number", b"", 422, "after", path="/v1/events?after=1e3", method="GET"),
    _http(
        "a Last-Event-ID that isdigit() but int() refuses",
        b"",
        400,
        "Last-Event-ID",
        path="/v1/events",
        method="GET",
        last_event_id="\N{SUPERSCRIPT TWO}".encode("latin-1"),
    ),
    _http(
        "a Last-Event-ID SQLite cannot hold",
        b"",
        400,
        "Last-Event-ID",
        path="/v1/events",
        method="GET",
        last_event_id=b"9" * 19,
    ),
    # -- the command line
    _cli("a prompt of bytes that are not UTF-8", ["\udcff"], SURROGATE),
    _cli("latency=inf", ["x", "-E", "latency=inf"], "finite number"),
    _cli("retry_after=inf", ["x", "-E", "retry_after=inf"], "finite number"),
    _cli("output_size=1e14", ["x", "-E", "output_size=1e14"], "output_size"),
    _cli("a setting the engine does not have", ["x", "-E", "nosuch=1"], "nosuch"),
    _cli("an engine that does not exist", ["x", "--engine", "nope"], "unknown engine 'nope'"),
    _cli("a budget of inf", ["x", "--max-cost-usd", "inf"], "finite number"),
    _cli("a deadline of inf", ["x", "--deadline", "inf"], "finite number"),
    _cli("no parallelism", ["x", "--parallel", "0"], "must be a positive number"),
    _cli("a timeout of nan", ["x", "--timeout", "nan"], "must be positive"),
    _cli("negative retries", ["x", "--retries", "-1"], "retries"),
    _cli("a tasks file that does not exist", ["--tasks-file", "missing.yaml"], "file not found"),
    # -- tasks files
    _file("YAML nested 5,000 deep", b"tasks: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 64"),
    _file("a 50 MB prompt", _yaml_prompt(50_000_000), "a tasks file may have"),
    _file("a prompt past 1,000,000 characters", _yaml_prompt(MAX_PROMPT_CHARS + 1), "more than 1,000,000"),
    _file("a lone surrogate", b'tasks:\n  - prompt: "\\ud800"\n', SURROGATE),
    _file("a lone surrogate in the name", b'name: "\\ud800"\ntasks:\n  - prompt: hi\n', SURROGATE),
    _file("invalid UTF-8", b'tasks:\n  - prompt: "\xff\xfe"\n', "cannot read"),
    _file("retries: false", b"defaults: {retries: false}\ntasks:\n  - prompt: hi\n", "retries"),
    _file(
        "latency=inf", b"tasks:\n  - prompt: hi\n    options: {engine_options: {latency: .inf}}\n", "finite"
    ),
    _file(
        "output_size=1e14",
        b"tasks:\n  - prompt: hi\n    options: {engine_options: {output_size: 100000000000000}}\n",
        "output_size",
    ),
    _file("a timeout of nan", b"defaults: {timeout: .nan}\ntasks:\n  - prompt: hi\n", "timeout"),
    _file(
        "settings for an engine that does not exist",
        b"engines: {nope: {a: 1}}\ntasks:\n  - prompt: hi\n",
        "nope",
    ),
    _file("a list, not a mapping", b"- a\n- b\n", "a tasks file is a mapping"),
    _file("a misspelt task field", b"tasks:\n  - {prompt: hi, workdir: rel}\n", "workdir: unknown field"),
    # -- MCP: the `start_run` tool
    _mcp("nothing to run", {}, "tasks"),
    _mcp("latency=inf", {"tasks": ["x"], "engine_options": {"latency": "inf"}}, "latency"),
    _mcp("output_size=1e14", {"tasks": ["x"], "engine_options": {"output_size": 10**14}}, "output_size"),
    _mcp("an engine that does not exist", {"tasks": ["x"], "engine": "nope"}, "nope"),
    _mcp("a relative workdir", {"tasks": ["x"], "workdir": "project"}, "is not an absolute path"),
    _mcp("no parallelism", {"tasks": ["x"], "parallel": 0}, "parallel"),
    _mcp("a prompt past 1,000,000 characters", {"tasks": ["x" * (MAX_PROMPT_CHARS + 1)]}, "1,000,000"),
]
