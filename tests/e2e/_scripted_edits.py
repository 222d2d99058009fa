"""Scripted Claude Code agents that edit files in whatever directory they were started in.

An isolated run starts each agent in a worktree whose path the test cannot know in advance, and
Claude Code's Read and Edit tools want absolute paths. So each answer is made from the request
(`FromRequest`): the agent's task is the marker found in its prompt, its directory is the
"Primary working directory" Claude Code puts in its system prompt, and how far it has got is the
number of assistant turns in the conversation. For each edit it reads the file, then edits it (a
new file it just writes); then it gives the structured answer if the CLI asked for one (a
template's output schema), then ends its turn. An agent whose marker is held hangs at its
`hang_at` turn until released.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.model_server import FromRequest, Hang, Reply, ScriptedModelServer, ToolCall, Turn

_CWD = re.compile(r"Primary working directory: (\S+)")
STRUCTURED_OUTPUT = "StructuredOutput"  # the tool Claude Code gives the model for --json-schema


@dataclass(frozen=True, slots=True)
class FileEdit:
    """A Read, then an Edit: `path` relative to the agent's directory; `change` maps the file as the
    agent read it (Claude Code's numbered listing) to the edit's old and new strings."""

    path: str
    change: Callable[[str], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class FileWrite:
    """One Write of a new file: `path` relative to the agent's directory."""

    path: str
    content: str


def replace(path: str, old: str, new: str) -> FileEdit:
    return FileEdit(path, lambda _read: (old, new))


@dataclass(frozen=True, slots=True)
class Agent:
    """What the agent whose prompt holds `marker` does; `answer` is its structured answer, if asked."""

    marker: str
    edits: Sequence[FileEdit | FileWrite]
    answer: Mapping[str, Any] = field(default_factory=dict)


class ScriptedEdits:
    """Every agent's behaviour, served as `FromRequest` turns on `server`'s shared queue."""

    def __init__(self, agents: Sequence[Agent], *, hang_at: int | None = None) -> None:
        self._agents = list(agents)
        self._hang_at = hang_at
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self.unknown: list[str] = []  # first user messages no agent claimed, for a failure message

    def serve_on(self, server: ScriptedModelServer, requests: int) -> None:
        """Answer the next `requests` model requests (however many they are, one per turn)."""
        server.script(*[FromRequest(self.turn)] * requests)

    def hold(self, markers: Sequence[str]) -> None:
        with self._lock:
            self._held = set(markers)

    def release(self) -> None:
        with self._lock:
            self._held = set()

    def turn(self, body_text: str) -> Turn:
        body = json.loads(body_text)
        prompt = first_user_text(body)
        agent = next((agent for agent in self._agents if agent.marker in prompt), None)
        if agent is None:
            self.unknown.append(prompt[:300])
            return Reply("no scripted agent for this prompt")
        found = _CWD.search(_system_text(body))
        if found is None:
            raise ValueError("no 'Primary working directory' in the system prompt")
        cwd = found.group(1)
        messages = body.get("messages", [])
        stage = sum(1 for message in messages if message.get("role") == "assistant")
        with self._lock:
            held = agent.marker in self._held
        if held and stage == self._hang_at:
            return Hang()
        steps = [(step, edit) for edit in agent.edits for step in _steps(edit)]
        call_id = f"toolu_{stage + 1:02d}"
        if stage < len(steps):
            step, edit = steps[stage]
            path = f"{cwd}/{edit.path}"
            if isinstance(edit, FileWrite):
                return ToolCall("Write", {"file_path": path, "content": edit.content}, call_id=call_id)
            if step == "read":
                return ToolCall("Read", {"file_path": path}, call_id=call_id)
            old, new = edit.change(_last_tool_result(messages))
            arguments = {"file_path": path, "old_string": old, "new_string": new}
            return ToolCall("Edit", arguments, call_id=call_id)
        if stage == len(steps) and STRUCTURED_OUTPUT in _tool_names(body):
            return ToolCall(STRUCTURED_OUTPUT, dict(agent.answer), call_id=call_id)
        return Reply("done")


def _steps(edit: FileEdit | FileWrite) -> tuple[str, ...]:
    return ("write",) if isinstance(edit, FileWrite) else ("read", "edit")


def first_user_text(body: Mapping[str, Any]) -> str:
    """The first user message of a request: the task's prompt (after Claude Code's reminders)."""
    for message in body.get("messages", []):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _system_text(body: Mapping[str, Any]) -> str:
    return _text_of(body.get("system"))


def _tool_names(body: Mapping[str, Any]) -> set[str]:
    return {str(tool.get("name")) for tool in body.get("tools", []) if isinstance(tool, dict)}


def _last_tool_result(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    return _text_of(block.get("content"))
    return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            _text_of(part.get("text", part.get("content"))) for part in content if isinstance(part, dict)
        )
    return ""
