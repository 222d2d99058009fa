"""A run sent over HTTP works only in an absolute, existing directory under the roots the daemon allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.errors import ConfigError, InputError
from parallelai.server.workdir_roots import WORKDIR_ROOTS_ENV, WorkdirRoots
from parallelai.wire import ErrorBody
from tests.server._process import daemon_process
from tests.server._support import DEADLINE_S, Harness, parse, running_app

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _daemon_allowing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, roots: str
) -> AsyncIterator[Harness]:
    monkeypatch.setenv(WORKDIR_ROOTS_ENV, roots)
    async with running_app(tmp_path / "db.sqlite") as harness:
        yield harness


async def _refusal(daemon: Harness, body: dict[str, Any]) -> str:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json=body)
    error = parse(response, ErrorBody).error
    assert (response.status_code, error.code) == (422, "invalid_input"), error
    return error.message


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    root = (tmp_path / "allowed").resolve()  # as the daemon names it in its messages
    (root / "project").mkdir(parents=True)
    return root


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    other = tmp_path / "elsewhere"
    other.mkdir()
    return other


async def test_a_workdir_under_an_allowed_root_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: Path
) -> None:
    async with _daemon_allowing(tmp_path, monkeypatch, str(allowed)) as daemon:
        with anyio.fail_after(DEADLINE_S):
            response = await daemon.http.post(
                "/v1/runs", json={"prompts": ["x"], "workdir": str(allowed / "project")}
            )
            assert response.status_code == 201, response.text
            await daemon.service.wait(response.json()["id"])


@pytest.mark.parametrize(
    ("workdir", "says"),
    [
        ("project", "is not an absolute path"),
        ("./project", "is not an absolute path"),
        ("{allowed}/missing", "does not exist"),
        ("{elsewhere}", "is not under the directories this daemon allows ({allowed})"),
        ("{allowed}/project/../../elsewhere", "is not under the directories this daemon allows"),
        ("/", "is not under the directories this daemon allows"),
    ],
)
async def test_a_relative_missing_or_outside_workdir_gets_422_naming_it_and_the_roots(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    allowed: Path,
    elsewhere: Path,
    workdir: str,
    says: str,
) -> None:
    workdir = workdir.format(allowed=allowed, elsewhere=elsewhere)
    async with _daemon_allowing(tmp_path, monkeypatch, str(allowed)) as daemon:
        message = await _refusal(daemon, {"prompts": ["x"], "workdir": workdir})
    assert repr(workdir) in message
    assert says.format(allowed=allowed) in message
    if "allows" in says:
        assert WORKDIR_ROOTS_ENV in message  # and how to allow more


async def test_a_symlink_out_of_the_roots_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: Path, elsewhere: Path
) -> None:
    link = allowed / "link"
    link.symlink_to(elsewhere)
    async with _daemon_allowing(tmp_path, monkeypatch, str(allowed)) as daemon:
        message = await _refusal(daemon, {"prompts": ["x"], "workdir": str(link)})
    assert "is not under the directories this daemon allows" in message


async def test_a_task_workdir_a_planned_run_and_a_tasks_file_cannot_leave_the_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: Path, elsewhere: Path
) -> None:
    project = str(allowed / "project")
    (elsewhere / "tasks.yaml").write_text("tasks:\n  - prompt: hi\n")
    task_escapes = {"tasks": [{"prompt": "x", "options": {"workdir": "../../elsewhere"}}], "workdir": project}
    planned = {"planned": {"workdir": str(elsewhere), "tasks": [{"id": "t", "prompt": "x"}]}}
    tasks_file = {"tasks_file": str(elsewhere / "tasks.yaml"), "workdir": project}
    async with _daemon_allowing(tmp_path, monkeypatch, str(allowed)) as daemon:
        assert "task 1: workdir" in await _refusal(daemon, task_escapes)
        assert repr(str(elsewhere)) in await _refusal(daemon, planned)
        assert "tasks_file" in await _refusal(daemon, tasks_file)


async def test_by_default_only_the_home_directory_and_where_the_daemon_started_are_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: Path, elsewhere: Path
) -> None:
    monkeypatch.setenv("HOME", str(allowed))
    started_in = tmp_path / "project"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    monkeypatch.delenv(WORKDIR_ROOTS_ENV)
    assert WorkdirRoots.from_env() == WorkdirRoots.of([allowed, started_in])  # home, then where it started
    async with running_app(tmp_path / "db.sqlite") as daemon:
        message = await _refusal(daemon, {"prompts": ["x"], "workdir": str(elsewhere)})
        with anyio.fail_after(DEADLINE_S):
            response = await daemon.http.post(
                "/v1/runs", json={"prompts": ["x"], "workdir": str(allowed / "project")}
            )
            assert response.status_code == 201, response.text
            await daemon.service.wait(response.json()["id"])
    assert str(allowed) in message


def test_several_roots_are_separated_like_path_and_must_be_absolute(allowed: Path, elsewhere: Path) -> None:
    roots = WorkdirRoots.from_env({WORKDIR_ROOTS_ENV: f"{allowed}:{elsewhere}:"})
    assert roots.roots == (allowed, elsewhere.resolve())
    with pytest.raises(ConfigError, match="not an absolute path"):
        WorkdirRoots.from_env({WORKDIR_ROOTS_ENV: "relative/dir"})


async def test_the_real_daemon_reads_its_roots_from_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: Path, elsewhere: Path
) -> None:
    monkeypatch.setenv(WORKDIR_ROOTS_ENV, str(allowed))
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as running, DaemonClient(running.info) as client:
            with pytest.raises(InputError) as refused:  # the client's word for a 422
                await client.create_run({"prompts": ["x"], "workdir": str(elsewhere)})
            created = await client.create_run({"prompts": ["x"], "workdir": str(allowed / "project")})
    assert str(elsewhere) in str(refused.value)
    assert created.id
