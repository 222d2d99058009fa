"""A stand-in for Cursor's `cursor-agent` CLI, which no package registry carries.

It writes the stream-json documented at https://cursor.com/docs/cli/reference/output-format and
behaves as $FAKE_CURSOR_SCENARIO says: answer, write (a real file in the cwd), error_result,
rate_limited, auth, linger (never exits after its result) and hang (never answers). `linger`
and `hang` start a grandchild first, so tests can check that the whole tree is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

SESSION = str(uuid.uuid4())


def emit(**event: Any) -> None:
    print(json.dumps({**event, "session_id": SESSION}), flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("2026.01.01-fake")
        return 0
    prompt = argv[argv.index("--") + 1] if "--" in argv else argv[-1]
    scenario = os.environ.get("FAKE_CURSOR_SCENARIO", "answer")
    if scenario == "rate_limited":
        print("Error: Rate limit exceeded (429). Please try again later.", file=sys.stderr)
        return 1
    if scenario == "auth":
        print(
            "Error: Authentication required. Run `cursor-agent login` or set CURSOR_API_KEY.", file=sys.stderr
        )
        return 1
    if scenario in ("linger", "hang"):
        # A grandchild in its own session, like a tool's shell would be.
        subprocess.Popen(["sleep", "600"], start_new_session=True)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL stops us, as with a stuck CLI
    emit(type="system", subtype="init", apiKeySource="env", cwd=os.getcwd(), model="fake-model",
         permissionMode="default")  # fmt: skip
    emit(type="user", message={"role": "user", "content": [{"type": "text", "text": prompt}]})
    if scenario == "hang":
        signal.pause()
    if scenario == "write":
        path = "out/hello.txt"
        args = {"path": path, "fileText": "written by cursor\n", "toolCallId": "call-1"}
        emit(
            type="tool_call", subtype="started", call_id="call-1", tool_call={"writeToolCall": {"args": args}}
        )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(args["fileText"])
        result = {"success": {"path": str(Path(path).resolve()), "linesCreated": 1, "fileSize": 18}}
        emit(type="tool_call", subtype="completed", call_id="call-1",
             tool_call={"writeToolCall": {"args": args, "result": result}})  # fmt: skip
    text = "argv: " + json.dumps(argv) if scenario == "echo_args" else f"answer to: {prompt}"
    emit(type="assistant", message={"role": "assistant", "content": [{"type": "text", "text": text}]})
    if scenario == "error_result":
        emit(
            type="result",
            subtype="error",
            is_error=True,
            duration_ms=5,
            result="the model refused the request",
        )
        return 1
    emit(type="result", subtype="success", is_error=False, duration_ms=12, duration_api_ms=12, result=text,
         request_id="req-1")  # fmt: skip
    if scenario == "linger":
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
