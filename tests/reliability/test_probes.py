"""Security probes against the real daemon: each is something an attacker on this machine (another
user, a web page in the user's browser, an agent the daemon runs) would try, and each must be
refused. tests/server/test_security.py, test_allowed_origins.py and tests/security/ check the
same guards one by one; this walks them as probes, as the daemon is run, and counts them."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import DaemonInfo
from parallelai.engines._redaction import MASK
from parallelai.paths import state_dir
from parallelai.server.auth import COOKIE_NAME
from parallelai.wire import DashboardLink
from tests.reliability.tally import Tally
from tests.security._probes import PROBE, finished_task
from tests.security._user import User, needs_a_user
from tests.server._process import daemon_process
from tests.server._support import DEADLINE_S, parse

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Keys:
    """What a probe may hold: the daemon's address, and a browser session the test opened."""

    info: DaemonInfo
    cookie: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info.token}"}


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    headers: Callable[[Keys], dict[str, str]]
    refused: int  # the status that refuses it


def _none(_: Keys) -> dict[str, str]:
    return {}


def _wrong(_: Keys) -> dict[str, str]:
    return {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}


def _with(**extra: str) -> Callable[[Keys], dict[str, str]]:
    return lambda keys: keys.bearer | {name.replace("_", "-"): value for name, value in extra.items()}


EVERY_KIND_OF_PATH = [
    ("GET", "/v1/runs"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/events"),
    ("GET", "/metrics"),
    ("POST", "/mcp"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/health"),
    ("GET", "/v1/no-such-thing"),
]
PROBES: list[Probe] = [
    *(Probe(f"no token: {m} {p}", m, p, _none, 401) for m, p in EVERY_KIND_OF_PATH),
    *(Probe(f"a wrong token: {m} {p}", m, p, _wrong, 401) for m, p in EVERY_KIND_OF_PATH),
    Probe("the token in the query", "GET", "/v1/runs?token={token}", _none, 401),
    Probe("the token as Basic auth", "GET", "/v1/runs", lambda k: {"Authorization": f"Basic {_basic(k)}"}, 401),
    Probe("the token as the cookie", "GET", "/v1/runs", lambda k: {"Cookie": f"{COOKIE_NAME}={k.info.token}"}, 401),
    Probe("the token as the old cookie", "GET", "/v1/runs", lambda k: {"Cookie": f"parallelai_token={k.info.token}"}, 401),
    Probe("the session cookie as a token", "GET", "/v1/runs", lambda k: {"Authorization": f"Bearer {k.cookie}"}, 401),
    Probe("a wrong token beside a good cookie", "GET", "/v1/runs",
          lambda k: {"Authorization": "Bearer wrong", "Cookie": f"{COOKIE_NAME}={k.cookie}"}, 401),
    *(Probe(f"a foreign Host: {m} {p}", m, p, _with(Host=h), 421)
      for m, p in [("GET", "/v1/runs"), ("GET", "/v1/events"), ("GET", "/metrics"), ("POST", "/mcp"), ("GET", "/")]
      for h in ["attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io"]),
    *(Probe(f"a cross-site Origin: {m} {p}", m, p, _with(Origin=o), 403)
      for m, p in [("POST", "/v1/runs"), ("GET", "/v1/events"), ("POST", "/mcp"), ("GET", "/v1/runs")]
      for o in ["https://evil.example", "null", "http://localhost:1"]),
    Probe("a CORS preflight from another origin", "OPTIONS", "/v1/runs",
          lambda k: {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, 403),
    Probe("a CORS preflight for /mcp", "OPTIONS", "/mcp",
          lambda k: {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, 403),
]  # fmt: skip


def _basic(keys: Keys) -> str:
    return base64.b64encode(f"parallelai:{keys.info.token}".encode()).decode()


async def _session(http: httpx.AsyncClient, info: DaemonInfo) -> tuple[str, httpx.Response]:
    """A browser session opened with a one-time link, and the answer to that link used again."""
    bearer = {"Authorization": f"Bearer {info.token}"}
    link = parse(await http.post("/v1/dashboard/link", headers=bearer), DashboardLink)
    first = await http.get(link.url)
    cookie = first.cookies.get(COOKIE_NAME)
    assert first.status_code == 303
    assert cookie is not None
    http.cookies.clear()
    return cookie, await http.get(link.url)


async def test_every_http_probe_is_refused(tmp_path: Path, tally: Tally) -> None:
    not_refused = []
    with anyio.fail_after(DEADLINE_S * 3):
        async with (
            daemon_process(tmp_path / "db.sqlite") as daemon,
            httpx.AsyncClient(base_url=daemon.info.url) as http,
        ):
            cookie, reused = await _session(http, daemon.info)
            keys = Keys(daemon.info, cookie)
            for probe in PROBES:
                response = await http.request(
                    probe.method,
                    probe.path.format(token=daemon.info.token),
                    headers=probe.headers(keys),
                    content=b"{}" if probe.method == "POST" else None,
                )
                http.cookies.clear()
                if response.status_code >= 500:
                    tally.server_errors += 1
                if (
                    response.status_code == probe.refused
                    and "access-control-allow-origin" not in response.headers
                ):
                    tally.probes_refused += 1
                else:
                    not_refused.append((probe.name, response.status_code))
    # The one-time link, used a second time: no session, back to the sign-in page.
    link_reused = reused.status_code == 303 and reused.headers["location"] == "/?expired"
    link_refused = link_reused and COOKIE_NAME not in reused.cookies
    tally.probes_refused += link_refused
    assert not_refused == []
    assert link_refused


def _store_texts(store: Path) -> list[str]:
    return [path.read_bytes().decode(errors="replace") for path in store.parent.glob(store.name + "*")]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_state_dir_and_every_file_in_it_are_the_owner_s_alone(tally: Tally) -> None:
    directory = state_dir()
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # as an older version, or a careless umask, left it
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(directory / "parallelai.db") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run({"prompts": ["x"]})).id
            async for event in client.events(run_id, after=0, reconnect=False):
                if event.type == "run.finished":
                    break
            modes = {path.name: _mode(path) for path in directory.iterdir() if path.is_file()}
            modes[directory.name + "/"] = _mode(directory)
    open_to_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    tally.probes_refused += len(modes) - len(open_to_others)
    tally.leaked += len(open_to_others)
    assert {"daemon.json", "parallelai.db", "metrics-token"} <= set(modes)
    assert open_to_others == {}


@needs_a_user
@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
async def test_an_agent_cannot_read_the_daemon_s_environment_through_proc(
    tmp_path: Path, tally: Tally
) -> None:
    home = tmp_path / "user"
    home.mkdir()
    if os.geteuid() == 0:
        os.chown(home, 65534, 65534)
    planted = f"planted-{secrets.token_hex(8)}"
    body = {"prompts": ["probe"], "engine": "command", "engines": {"command": {"shell": PROBE}}}
    with anyio.fail_after(DEADLINE_S):
        async with (
            User(home).daemon({"PARALLELAI_TEST_PLANTED": planted}) as info,
            DaemonClient(info) as client,
        ):
            task, events = await finished_task(client, body)
    text = json.loads(task)["result"]["text"]
    leaks = sum(planted in seen for seen in [task, *events])
    tally.leaked += leaks
    tally.probes_refused += "REFUSED" in text
    assert f"parent={info.pid}" in text  # it did ask the daemon itself
    assert "REFUSED" in text
    assert leaks == 0


async def test_a_key_an_agent_prints_reaches_no_result_event_store_or_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    key = f"sk-ant-api03-{secrets.token_urlsafe(24)}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)  # the daemon holds it
    found = tmp_path / "found.txt"
    found.write_text(f"found it: {key}\n")
    shell = f'echo "key=$ANTHROPIC_API_KEY"; cat {found}; echo "oops $ANTHROPIC_API_KEY" >&2; exit 3'
    settings = {"shell": shell, "pass_env": ["ANTHROPIC_API_KEY"]}
    body = {"prompts": ["leak"], "engine": "command", "engines": {"command": settings}}
    store = tmp_path / "db.sqlite"
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(store) as daemon, DaemonClient(daemon.info) as client:
            task, events = await finished_task(client, body)
            daemon.process.terminate()
            await daemon.process.wait()
    places = {"the task": [task], "the events": events, "the log": daemon.log}
    places["the store"] = _store_texts(store)  # the database and its write-ahead log
    leaked = [place for place, texts in places.items() if any(key in text for text in texts)]
    tally.leaked += len(leaked)
    tally.probes_refused += len(places) - len(leaked)
    assert leaked == []
    assert json.loads(task)["result"]["text"].count(MASK) == 2  # printed twice, masked twice
