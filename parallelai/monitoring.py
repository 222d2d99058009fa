"""`ParallelOrchestrator.monitor()`: where a script's runs can be watched — the daemon's dashboard,
metrics and notifications — and the daemon started if none runs.

The monitors live in the daemon (docs/daemon.md): its web dashboard, `/metrics` and the `[notify]`
Slack/webhook notifier follow every run in its store, whichever process executes it. So a script
keeps executing its runs itself (its environment, its credentials; stopping it stops its agents)
and the daemon shows them live, as it shows a foreground `parallelai run`. All this needs is that
the daemon and the script share one store, which is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

import anyio

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import DEFAULT_HOST, start_detached
from parallelai.errors import InputError
from parallelai.monitor.notify_config import PROJECT_CONFIG, NotifyConfig, load_notify_config
from parallelai.monitor.scrape_token import scrape_token_path
from parallelai.paths import default_store_path, user_config_path

Dashboard = Literal["web", "terminal", "grafana"]
Notifications = Literal["slack", "webhook"]
_CONFIG_KEY: dict[str, str] = {"slack": "slack_webhook", "webhook": "webhook"}


@dataclass(frozen=True, slots=True)
class Monitoring:
    """Where to look. `dashboard_url` is a one-time login link (valid 120 s; `parallelai dashboard`
    makes another); `/metrics` needs the bearer token kept in `token_file`: the scrape token, which
    outlives daemon restarts and opens `/metrics` only."""

    daemon_url: str
    token_file: Path
    dashboard_url: str | None = None  # dashboard="web"
    terminal_command: str | None = None  # dashboard="terminal"
    grafana: str | None = None  # dashboard="grafana": what to import, and what it scrapes
    metrics_url: str | None = None  # metrics=True (or grafana)
    notifications: tuple[str, ...] = ()  # one line per channel asked for: where it posts, or why not
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        lines = [f"daemon: {self.daemon_url}"]
        if self.dashboard_url:
            lines.append(f"dashboard: {self.dashboard_url} (a one-time link, valid 120 s)")
        if self.terminal_command:
            lines.append(f"terminal view: {self.terminal_command}")
        if self.grafana:
            lines.append(f"grafana: {self.grafana}")
        if self.metrics_url:
            lines.append(f"metrics: {self.metrics_url} (Authorization: Bearer <token in {self.token_file}>)")
        lines.extend(f"notifications: {line}" for line in self.notifications)
        lines.extend(self.notes)
        return "\n".join(lines)


async def attach_monitors(
    store_path: Path | None,
    *,
    dashboard: str | None,
    notifications: str | None,
    metrics: bool,
    port: int | None,
) -> Monitoring:
    """Find (or start, on `port`) the daemon over `store_path` and say where its monitors are."""
    _check_choice("dashboard", dashboard, get_args(Dashboard))
    _check_choice("notifications", notifications, get_args(Notifications))
    store = await anyio.Path(store_path or default_store_path()).resolve()
    notes: list[str] = []
    info = read_discovery()
    if info is None:
        info = await start_detached(DEFAULT_HOST, port or 0, store=store_path)
    else:
        if await anyio.Path(info.store).resolve() != store:
            raise InputError(
                f"the daemon at {info.url} keeps its runs in {info.store}, not in {store}, so it would "
                f"not see this orchestrator's runs; give ParallelOrchestrator(store_path={info.store!r}), "
                "or stop that daemon (`parallelai stop`) and call monitor() again"
            )
        if port and urlsplit(info.url).port != port:
            notes.append(
                f"note: the daemon already runs at {info.url}; to serve on port {port}, stop it "
                "(`parallelai stop`) and call monitor() again"
            )
    dashboard_url = None
    if dashboard == "web":
        async with DaemonClient(info) as client:
            link = await client.dashboard_link()
        dashboard_url = f"{link.url}#/runs"  # the fragment survives the login redirect
    metrics_url = f"{info.url}/metrics" if metrics or dashboard == "grafana" else None
    return Monitoring(
        daemon_url=info.url,
        token_file=scrape_token_path(),
        dashboard_url=dashboard_url,
        terminal_command="parallelai watch" if dashboard == "terminal" else None,
        grafana=(
            f"import docs/grafana-dashboard.json (in the parallelai repository); Prometheus scrapes "
            f"{info.url}/metrics with the bearer token in {scrape_token_path()} (`credentials_file`)"
            if dashboard == "grafana"
            else None
        ),
        metrics_url=metrics_url,
        notifications=_notifications(notifications),
        notes=tuple(notes),
    )


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise InputError(f"monitor({name}={value!r}): choose one of {', '.join(choices)}, or None")


def _notifications(channel: str | None) -> tuple[str, ...]:
    """What the daemon does for `channel`, from the `[notify]` table a daemon started here reads."""
    if channel is None:
        return ()
    config: NotifyConfig = load_notify_config(Path.cwd())
    key = _CONFIG_KEY[channel]
    if getattr(config, key) is None:
        return (
            f'{channel}: no webhook configured; set [notify] {key} = "https://…" in '
            f"{user_config_path()} or {PROJECT_CONFIG}, then restart the daemon "
            "(`parallelai stop`; monitor() starts it again)",
        )
    return (
        f"{channel}: the daemon posts to [notify] {key} on {', '.join(sorted(config.on))} "
        "(as configured when it started)",
    )
