"""What the secrets tests and the reliability tier's probes share: an agent that tries to read its
parent's environment, and a one-task run on a daemon with everything it sent."""

from __future__ import annotations

from typing import Any

from parallelai.client.daemon_client import DaemonClient
from parallelai.events import RunFinished

# The probe: an agent names its parent, then tries to read that parent's environment.
PROBE = (
    "echo parent=$PPID; "
    "if environ=$(cat /proc/$PPID/environ 2>/dev/null); "
    'then echo READ; printf "%s\\n" "$environ"; else echo REFUSED; fi'
)


async def finished_task(client: DaemonClient, body: dict[str, Any]) -> tuple[str, list[str]]:
    """Run `body` on the daemon; the JSON of its only task and of every event the run sent."""
    run_id = (await client.create_run(body)).id
    events = []
    async for event in client.events(run_id, reconnect=False):
        events.append(event.model_dump_json())
        if isinstance(event, RunFinished):
            break
    (task,) = await client.tasks(run_id)
    detail = await client.task(run_id, task.id)
    return detail.model_dump_json(), events
