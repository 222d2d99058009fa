"""The progress lines of `parallelai run`, `retry` and `resume`, through `main(argv)` on the
isolated state dir: retries are reported, and a retried run counts the tasks it kept as done."""

from __future__ import annotations

import io
import re
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from parallelai.cli.main import EXIT_FAILED, EXIT_OK, main
from parallelai.cli.progress import ProgressView
from parallelai.models import TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import DEADLINE_S, echo_task, run_spec

TASKS = """\
limits: {backoff_base_s: 0.001}
tasks:
  - {id: ok, prompt: fine}
  - {id: flaky, prompt: once, options: {retries: 1, engine_options: {fail_attempts: 1}}}
  - {id: bad, prompt: broken, options: {retries: 0, engine_options: {fail_attempts: 1, failure_kind: execution}}}
"""


def _run_id(text: str) -> str:
    match = re.search(r"\b(r\d{8}-\d{6}-[0-9a-f]{4})\b", text)
    assert match, text
    return match.group(1)


def test_a_retry_is_reported_and_a_retried_run_counts_the_tasks_it_kept_as_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(TASKS)
    assert main(["run", "--tasks-file", str(tasks)]) == EXIT_FAILED
    first = capsys.readouterr()
    assert re.search(r"\[\d/3\] flaky retrying \(attempt 1 failed \(transient: .*\); retrying in", first.err)
    assert re.search(r"\[\d/3\] bad failed", first.err)

    assert main(["retry", _run_id(first.out + first.err)]) == EXIT_OK
    again = capsys.readouterr()
    # `ok` and `flaky` succeeded before and are kept: the one task run again is the last of three.
    assert "[3/3] bad succeeded" in again.err


@pytest.mark.anyio
async def test_the_live_counts_show_a_task_waiting_to_retry_and_do_not_count_it_running(
    tmp_path: Path,
) -> None:
    spec = run_spec(
        [
            # Its first attempt fails; the provider asks for 10 minutes before the next one.
            echo_task("flaky", retries=1, fail_attempts=1, retry_after=600),
            echo_task("busy", hang=True),
        ]
    )
    screen = io.StringIO()
    with anyio.fail_after(DEADLINE_S):
        async with OrchestrationService.open(tmp_path / "db.sqlite") as service:
            after = service.bus.last_seq
            run_id = await service.submit(spec)
            # Live mode on a plain stream draws once, when the view closes: what it shows then.
            with ProgressView(run_id, 2, stream=screen, live=True) as view:
                async with aclosing(service.events(after, run_id)) as events:
                    async for event in events:
                        view.update(event)
                        counts = view.tally
                        if counts.count(TaskState.RETRYING) and counts.count(TaskState.RUNNING):
                            break
            await service.cancel(run_id)

    assert re.search(r"running: 1\s+succeeded: 0\s+failed: 0\s+skipped: 0\s+retrying: 1", screen.getvalue())
