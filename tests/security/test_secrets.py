"""Keys stay with the process that holds them: an agent cannot read its parent's environment, and
what a `command` agent prints of a key is masked before it reaches results, events or the store."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.engines._redaction import MASK
from parallelai.models import TaskState
from parallelai.processes import make_non_dumpable
from tests.security._probes import PROBE, finished_task
from tests.security._user import User, needs_a_user
from tests.server._process import daemon_process
from tests.server._support import DEADLINE_S

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")]


@needs_a_user
async def test_an_agent_of_the_daemon_cannot_read_the_daemons_environment(user: User) -> None:
    planted = f"planted-{secrets.token_hex(8)}"  # not named like a key: redaction does not hide it
    body = {"prompts": ["probe"], "engine": "command", "engines": {"command": {"shell": PROBE}}}
    with anyio.fail_after(DEADLINE_S):
        async with user.daemon({"PARALLELAI_TEST_PLANTED": planted}) as info, DaemonClient(info) as client:
            task, events = await finished_task(client, body)
    result = json.loads(task)["result"]
    assert f"parent={info.pid}" in result["text"]  # it did ask the daemon itself
    assert "REFUSED" in result["text"]
    assert planted not in task
    assert not any(planted in event for event in events)


@needs_a_user
def test_an_agent_of_an_embedded_run_cannot_read_the_command_lines_environment(user: User) -> None:
    planted = f"planted-{secrets.token_hex(8)}"
    command = [sys.executable, "-m", "parallelai", "run", "probe", "--engine", "command", "--json"]
    done = user.run([*command, "-E", f"shell={PROBE}"], {"PARALLELAI_TEST_PLANTED": planted})
    assert done.returncode == 0, done.stderr
    assert "REFUSED" in done.stdout
    assert planted not in done.stdout
    assert "parent=" in done.stdout


@needs_a_user
def test_the_probe_reads_a_parent_that_did_not_protect_itself(user: User) -> None:
    """The control: the same probe, from a parent that stays dumpable, reads the planted value."""
    planted = f"planted-{secrets.token_hex(8)}"
    parent = [sys.executable, "-c", f"import subprocess; subprocess.run(['/bin/sh', '-c', {PROBE!r}])"]
    done = user.run(parent, {"PARALLELAI_TEST_PLANTED": planted})
    assert "READ" in done.stdout.split()
    assert planted in done.stdout


def test_making_a_process_non_dumpable_is_idempotent() -> None:
    assert make_non_dumpable()
    assert make_non_dumpable()
    with open("/proc/self/status", encoding="ascii") as status:
        assert "CapEff" in status.read()  # it still reads its own /proc entries


async def test_a_key_a_command_prints_is_masked_in_results_events_and_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sk-ant-api03-{secrets.token_urlsafe(24)}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)  # in the daemon's environment
    found = tmp_path / "found.txt"
    found.write_text(f"found it: {key}\n")
    prints = {
        # handed down on purpose, then printed on stdout and (failing) on stderr
        "passed": {
            "shell": 'echo "key=$ANTHROPIC_API_KEY"; echo "oops $ANTHROPIC_API_KEY" >&2; exit 3',
            "pass_env": ["ANTHROPIC_API_KEY"],
        },
        # never handed down: the agent found the key somewhere else
        "found": {"shell": f"cat {found}"},
    }
    store = tmp_path / "db.sqlite"
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(store) as daemon:
            async with DaemonClient(daemon.info) as client:
                seen = {}
                for name, settings in prints.items():
                    body = {"prompts": [name], "engine": "command", "engines": {"command": settings}}
                    seen[name] = await finished_task(client, body)
            daemon.process.terminate()
            await daemon.process.wait()
    passed, _ = seen["passed"]
    record = json.loads(passed)
    assert record["state"] == TaskState.FAILED
    assert record["result"]["text"] == f"key={MASK}\n"
    assert record["result"]["error"]["message"] == f"exit code 3: oops {MASK}"
    found_record = json.loads(seen["found"][0])
    assert found_record["result"]["text"] == f"found it: {MASK}\n"
    for task, events in seen.values():
        assert key not in task
        assert not any(key in event for event in events)
        assert any(MASK in event for event in events)  # the output event carries the masked text
    for file in store.parent.glob(store.name + "*"):  # the database and its write-ahead log
        assert key.encode() not in file.read_bytes()
    assert not any(key in line for line in daemon.log)
