"""The README's tours, pasted in order as a newcomer would, on one state dir: every command works.

`RUN` is replaced by the newest run's id (what a reader copies from the output above it); the
full-screen `watch` runs on a real pseudo-terminal and is quit with `q`; `$BROWSER` is a no-op, so
the commands that open the dashboard only print and follow.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import anyio
import pytest

from parallelai.client.launcher import stop_daemon
from parallelai.server.workdir_roots import WORKDIR_ROOTS_ENV
from tests.cli._terminal import terminal

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120.0
# Sections whose bash blocks are the tours, in the order the README gives them.
TOURS = ("## Quick tour", "## The daemon, dashboards and editors")
# Commands that need what a fresh machine lacks (Claude Code installed and logged in): they must
# still answer, in their documented form, and say what is wrong.
MAY_FAIL = {"engines check claude-code"}


def _tour_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    commands: list[str] = []
    for heading in TOURS:
        section = readme[readme.index(heading) :]
        block = re.search(r"```bash\n(.*?)```", section, re.S)
        assert block is not None, heading
        for line in block.group(1).splitlines():
            code = line.split("  #", 1)[0].strip()
            commands.extend(part.strip() for part in code.split(";") if part.strip())
    return commands


async def _newest_run(env: dict[str, str]) -> str:
    done = await anyio.run_process(
        [str(ROOT / ".venv/bin/parallelai"), "runs", "--json", "--limit", "1"], cwd=ROOT, env=env
    )
    return str(json.loads(done.stdout)[0]["id"])


async def test_the_readme_tours_work_in_order_on_one_state_dir(isolated_state: Path) -> None:
    env = os.environ | {"BROWSER": "true", "PARALLELAI_STATE_DIR": str(isolated_state)}
    env.pop("PARALLELAI_ENGINE", None)  # as a newcomer runs them: the README names its engines
    env.pop(WORKDIR_ROOTS_ENV, None)  # the daemon allows what it allows by default
    commands = _tour_commands()
    assert any(" serve --detach" in command for command in commands)
    outcomes: list[tuple[str, int, str]] = []
    try:
        with anyio.fail_after(DEADLINE_S * 3):
            for command in commands:
                argv = shlex.split(command)
                assert argv[0] == ".venv/bin/parallelai", command
                argv[0] = str(ROOT / argv[0])
                if "RUN" in argv:
                    argv[argv.index("RUN")] = await _newest_run(env)
                if argv[1:] == ["watch"]:
                    outcomes.append((command, await _watch_and_quit(argv), ""))
                    continue
                done = await anyio.run_process(argv, cwd=ROOT, env=env, check=False)
                outcomes.append((command, done.returncode, done.stdout.decode() + done.stderr.decode()))
    finally:
        await stop_daemon()

    for command, code, output in outcomes:
        if " ".join(shlex.split(command)[1:]) in MAY_FAIL:
            assert code in (0, 1), (command, output)
            assert output.startswith("claude-code: "), (command, output)
        else:
            assert code == 0, (command, output)
    said = {command: output for command, _, output in outcomes}
    assert "nothing to resume" in said[".venv/bin/parallelai resume RUN"]
    assert "nothing to retry" in said[".venv/bin/parallelai retry RUN"]
    assert "stopped the daemon" in said[".venv/bin/parallelai stop"]


async def _watch_and_quit(argv: list[str]) -> int:
    async with terminal(argv) as screen:
        with anyio.fail_after(DEADLINE_S):
            await screen.wait_for(r"runs")
            screen.press("q")
            return await screen.drain_until_exit()
