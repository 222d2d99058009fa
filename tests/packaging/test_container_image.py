"""The built image runs the daemon as uid 10001 with its state on a volume, and completes a run over HTTP.

The image is the one `scripts/setup.sh --container` built for the current Dockerfile and package
content (tests/packaging/image.py tags it by a hash of both); the test skips when there is none,
saying how to build it. It runs the image's own entry point with buildah's chroot isolation, which
works inside an unprivileged CI container where an OCI runtime cannot set rlimits; the daemon then
shares the host's network, so its port is reached directly, and port 0 stands in for 8787 (which a
daemon on this machine may hold) as the published port.
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
from typing import Any

import anyio
import httpx
import pytest

from tests.packaging.image import STORAGE, content_tag
from tests.support.polling import until

IMAGE = os.environ.get("PARALLELAI_TEST_IMAGE") or content_tag()
UID = 10001
ALLOWED_ORIGIN = "https://vscode.dev"


def _buildah(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *STORAGE, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def image_config() -> dict[str, Any]:
    if shutil.which("buildah") is None or os.geteuid() != 0:
        pytest.skip("needs buildah, as root: scripts/setup.sh --container installs it (docs/container.md)")
    inspected = _buildah("inspect", "--type", "image", IMAGE)
    if inspected.returncode != 0:
        pytest.skip(f"no image {IMAGE} for this content: scripts/setup.sh --container builds it")
    config: dict[str, Any] = json.loads(inspected.stdout)["Docker"]["config"]
    return config


@pytest.fixture
def container(image_config: dict[str, Any]) -> Iterator[str]:
    made = _buildah("from", IMAGE)
    assert made.returncode == 0, made.stderr
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
def daemon(container: str, image_config: dict[str, Any], tmp_path: Path) -> Iterator[Daemon]:
    volume = tmp_path / "state"
    volume.mkdir()
    os.chown(volume, UID, UID)
    mount = ["-v", f"{volume}:/var/lib/parallelai"]
    # The image's entry point as it is, but for the port (see the module docstring).
    entrypoint = list(image_config["Entrypoint"])
    entrypoint[entrypoint.index("--port") + 1] = "0"
    origins = ["--env", f"PARALLELAI_ALLOWED_ORIGINS={ALLOWED_ORIGIN}"]  # as `docker run -e` would
    process = subprocess.Popen(
        ["buildah", *STORAGE, "run", "--isolation", "chroot", *origins, *mount, container, "--", *entrypoint],
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


def test_the_image_is_non_root_with_its_state_on_a_volume_and_a_health_check(
    image_config: dict[str, Any],
) -> None:
    assert image_config["User"] == f"{UID}:{UID}"
    assert "/var/lib/parallelai" in image_config["Volumes"]
    assert "8787/tcp" in image_config["ExposedPorts"]
    assert image_config["Entrypoint"][:2] == ["parallelai", "serve"]
    assert image_config["Healthcheck"]["Test"] == ["CMD", "parallelai", "status"]


@pytest.mark.e2e
@pytest.mark.anyio
async def test_the_image_serves_a_run_through_its_port_with_the_token(container: str, daemon: Daemon) -> None:
    discovery = daemon.volume / "daemon.json"
    await until(lambda: discovery.exists() or daemon.process.poll() is not None, within_s=60)
    assert daemon.process.poll() is None, "the daemon exited"
    info = json.loads(discovery.read_text())  # the token, read from the volume
    assert discovery.stat().st_uid == UID  # not root
    port = int(info["url"].rsplit(":", 1)[1])
    published = f"parallelai.example:{port}"  # the name the host publishes the port under
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        assert (await client.get("/v1/health")).status_code == 401
        auth = {"Authorization": f"Bearer {info['token']}"}
        # Host: any name reaches a published port; the token is the guard.
        elsewhere = await client.get("/v1/health", headers={**auth, "Host": published})
        assert elsewhere.status_code == 200
        assert (await client.get("/v1/health", headers={"Host": published})).status_code == 401
        # Origin: the daemon's own origin as the browser sees it, or one allowed by the environment.
        own = await client.get(
            "/v1/health", headers={**auth, "Host": published, "Origin": f"http://{published}"}
        )
        assert own.status_code == 200
        allowed = await client.get("/v1/health", headers={**auth, "Origin": ALLOWED_ORIGIN})
        assert allowed.status_code == 200
        for foreign in ("https://evil.example", f"http://parallelai.example:{port + 1}"):
            refused = await client.get("/v1/health", headers={**auth, "Host": published, "Origin": foreign})
            assert refused.status_code == 403, foreign

        body = {"name": "smoke", "engine": "echo", "prompts": ["hi", "there"], "workdir": "/work"}
        created = await client.post("/v1/runs", json=body, headers=auth)
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        with anyio.fail_after(60):
            async for event in _states(client, run_id, auth):
                if event == "succeeded":
                    break
                assert event in {"pending", "running"}
    assert (daemon.volume / "parallelai.db").stat().st_uid == UID  # the store is on the volume
    health = _buildah("run", "--isolation", "chroot", *daemon.mount, container, "--", "parallelai", "status")
    assert health.returncode == 0, health.stderr  # the image's HEALTHCHECK command
