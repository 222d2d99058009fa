"""The command engine: any CLI as an agent, the prompt as an argument or on stdin."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from parallelai.engines.base import EngineEvent, EngineRequest, TextDelta
from parallelai.engines.command import CommandEngine
from parallelai.models import ErrorKind, TaskOptions, TaskResult

pytestmark = pytest.mark.anyio


def _request(prompt: str, workdir: Path, **options: Any) -> EngineRequest:
    return EngineRequest(
        task_id="job-7",
        prompt=prompt,
        model=None,
        options=TaskOptions(engine_options=options),
        workdir=workdir,
    )


async def _run(
    settings: dict[str, Any], prompt: str, workdir: Path, **options: Any
) -> tuple[TaskResult, list[EngineEvent]]:
    emitted: list[EngineEvent] = []
    with anyio.fail_after(10):
        result = await CommandEngine(settings).run(_request(prompt, workdir, **options), emitted.append)
    return result, emitted


async def test_the_prompt_replaces_the_placeholder_in_argv(tmp_path: Path) -> None:
    result, emitted = await _run({"argv": ["printf", "<%s>", "{prompt}"]}, "it's a 'prompt' $HOME", tmp_path)

    assert result.ok
    assert result.text == "<it's a 'prompt' $HOME>"
    assert emitted == [TextDelta("<it's a 'prompt' $HOME>")]


async def test_without_a_placeholder_the_prompt_is_the_last_argument(tmp_path: Path) -> None:
    result, _ = await _run({"argv": ["echo", "said:"]}, "hi there", tmp_path)

    assert result.text == "said: hi there\n"


async def test_the_prompt_can_go_on_stdin(tmp_path: Path) -> None:
    result, _ = await _run({"argv": ["tr", "a-z", "A-Z"], "prompt_via": "stdin"}, "shout this", tmp_path)

    assert result.text == "SHOUT THIS"


async def test_a_shell_command_sees_the_prompt_task_id_and_its_workdir(tmp_path: Path) -> None:
    result, _ = await _run({"shell": 'echo "$PROMPT|$PARALLELAI_TASK_ID|$(pwd)"'}, "p; rm -rf /", tmp_path)

    assert result.text == f"p; rm -rf /|job-7|{tmp_path}\n"


async def test_the_child_sees_only_allowed_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("SHARED_SETTING", "visible")
    settings = {"shell": 'echo "${SECRET_TOKEN:-unset} ${SHARED_SETTING:-unset} $EXTRA"', "pass_env": ["SHARED_SETTING"],
                "env": {"EXTRA": "given"}}  # fmt: skip

    result, _ = await _run(settings, "x", tmp_path)

    assert result.text == "unset visible given\n"


async def test_a_non_zero_exit_is_an_execution_error_with_the_last_stderr_line(tmp_path: Path) -> None:
    result, _ = await _run(
        {"shell": "echo partial; echo noise >&2; echo 'real cause' >&2; exit 3"}, "x", tmp_path
    )

    assert result.error is not None
    assert result.error.kind is ErrorKind.EXECUTION
    assert result.error.message == "exit code 3: real cause"
    assert result.text == "partial\n"


async def test_exit_code_75_asks_for_a_retry(tmp_path: Path) -> None:
    result, _ = await _run({"shell": "exit 75"}, "x", tmp_path)

    assert result.error is not None
    assert result.error.kind is ErrorKind.TRANSIENT
    assert result.error.message == "exit code 75: no output on stderr"


async def test_a_program_that_does_not_exist_is_a_bad_request(tmp_path: Path) -> None:
    result, _ = await _run({"argv": ["no-such-program-parallelai"]}, "x", tmp_path)

    assert result.error is not None
    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert "no-such-program-parallelai" in result.error.message


async def test_without_a_command_the_task_fails_saying_what_to_set(tmp_path: Path) -> None:
    result, _ = await _run({}, "x", tmp_path)

    assert result.error is not None
    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert "argv" in result.error.message


async def test_per_task_options_supply_or_override_the_command(tmp_path: Path) -> None:
    result, _ = await _run({"argv": ["echo", "engine"]}, "x", tmp_path, argv=["echo", "task"])

    assert result.text == "task x\n"


async def test_output_past_the_cap_is_cut(tmp_path: Path) -> None:
    result, _ = await _run(
        {"shell": "head -c 100000 /dev/zero | tr '\\0' a", "max_output_bytes": 10}, "x", tmp_path
    )

    assert result.ok
    assert result.text == "a" * 10


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"argv": ["a"], "shell": "b"}, "exactly one"),
        ({"argv": []}, "empty"),
        ({"shel": "x"}, "shel"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CommandEngine(settings)


async def test_status_says_whether_the_program_is_on_path() -> None:
    found = await CommandEngine({"argv": ["sh"]}).status()
    missing = await CommandEngine({"argv": ["no-such-program-parallelai"]}).status()
    unset = await CommandEngine({}).status()

    assert found.available
    assert str(shutil.which("sh")) in found.detail
    assert not missing.available
    assert "not on PATH" in missing.detail
    assert unset.available
    assert "argv" in unset.detail
