"""The built image runs the daemon as uid 10001 with its state on a volume, and completes a run over HTTP.

Building the image takes minutes, so this test uses one already built (docs/container.md says how,
with Debian's podman and a base made by mmdebstrap) and skips when there is none. It runs the
container with buildah's chroot isolation, which works inside an unprivileged CI container where an
OCI runtime cannot set rlimits; the daemon then shares the host's network, so port 0 stands in for
the published port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from tests.support.polling import until

IMAGE = os.environ.get("PARALLELAI_TEST_IMAGE", "localhost/parallelai/orchestrator:dev")
STORAGE = ["--storage-driver", os.environ.get("PARALLELAI_TEST_STORAGE_DRIVER", "vfs")]
UID = 10001


def _buildah(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *STORAGE, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def container() -> Iterator[str]:
    if shutil.which("buildah") is None or os.geteuid() != 0:
        pytest.skip("needs buildah, as root (docs/container.md)")
    made = _buildah("from", IMAGE)
    if made.returncode != 0:
        pytest.skip(f"no image {IMAGE}: build it as docs/container.md says")
    name = made.stdout.strip().splitlines()[-1]
    yield name
    _buildah("rm", name)


async def _states(client: httpx.AsyncClient, run_id: str, auth: dict[str, str]) -> AsyncIterator[str]:
    """The run's state, as polled: the daemon is another process that sends this test no event."""
    while True:
        yield (await client.get(f"/v1/runs/{run_id}", headers=auth)).json()["state"]
        await anyio.sleep(0.2)


@dataclass
class Daemon:
    volume: Path
    mount: list[str]
    process: subprocess.Popen[bytes]


@pytest.fixture
def daemon(container: str, tmp_path: Path) -> Iterator[Daemon]:
    volume = tmp_path / "state"
    volume.mkdir()
    os.chown(volume, UID, UID)
    mount = ["-v", f"{volume}:/var/lib/parallelai"]
    serve = ["parallelai", "serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote"]
    process = subprocess.Popen(
        ["buildah", *STORAGE, "run", "--isolation", "chroot", *mount, container, "--", *serve],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield Daemon(volume, mount, process)
    finally:
        _buildah("run", "--isolation", "chroot", *mount, container, "--", "parallelai", "stop")
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.e2e
@pytest.mark.anyio
async def test_the_image_serves_a_run_through_its_port_with_the_token(container: str, daemon: Daemon) -> None:
    discovery = daemon.volume / "daemon.json"
    await until(lambda: discovery.exists() or daemon.process.poll() is not None, within_s=60)
    assert daemon.process.poll() is None, "the daemon exited"
    info = json.loads(discovery.read_text())
    assert discovery.stat().st_uid == UID  # not root
    port = int(info["url"].rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        assert (await client.get("/v1/health")).status_code == 401
        auth = {"Authorization": f"Bearer {info['token']}"}
        # A published port is reached under the host's name, not a loopback one.
        elsewhere = await client.get("/v1/health", headers={**auth, "Host": f"parallelai.example:{port}"})
        assert elsewhere.status_code == 200
        body = {"name": "smoke", "engine": "echo", "prompts": ["hi", "there"], "workdir": "/work"}
        created = await client.post("/v1/runs", json=body, headers=auth)
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        with anyio.fail_after(60):
            async for event in _states(client, run_id, auth):
                if event == "succeeded":
                    break
                assert event in {"pending", "running"}
    health = _buildah("run", "--isolation", "chroot", *daemon.mount, container, "--", "parallelai", "status")
    assert health.returncode == 0, health.stderr  # the image's HEALTHCHECK command
