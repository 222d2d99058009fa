"""A task's gates: the user's checks, run by parallelai in the task's worktree after its agent
succeeded — a formatter, a type check, the tests of the files it changed.

Why in the worktree and before the merge: the worktree holds the task's change alone, so a
failure is this task's, and the agent can still fix it there. A failing gate goes back to the
agent — the same worktree, its prompt extended with the gate's output — at most `GATE_RERUNS`
times; if the gate still fails the task fails, the gate's verdict in its error. The gates get
the user's environment, plus the task's id and files (`PARALLELAI_TASK_ID`,
`PARALLELAI_TASK_FILES`: the task's `files` as it lists them, space-separated) so one command can
check each task's own files: `ruff check $PARALLELAI_TASK_FILES`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from parallelai.models import Gate, GateResult, Task
from parallelai.orchestration.gates import run_gate
from parallelai.workspaces import writes_undone

# How many times an agent whose change fails a gate is asked to fix it: each try costs a whole
# agent run, and a change that fails three times is more likely a wrong task than a near miss.
GATE_RERUNS = 2
_OUTPUT_SHOWN = 3000  # characters of a failing gate's output (its end) in the prompt and the error


async def first_failure(gates: Sequence[Gate], task: Task, workdir: Path) -> GateResult | None:
    """Run `gates` in order in the task's `workdir`; the first that fails, or None if all pass.
    What they write there is undone after them: a gate checks the agent's change, it is not part
    of it (a `py_compile` gate's `__pycache__` would otherwise be an edit outside the task's scope)."""
    env = {**os.environ, "PARALLELAI_TASK_ID": task.id, "PARALLELAI_TASK_FILES": " ".join(task.files)}
    async with writes_undone(workdir):
        for gate in gates:
            result = await run_gate(gate, workdir, env)
            if not result.passed:
                return result
    return None


def verdict(failed: GateResult) -> str:
    """What a failed gate said, for the task's error and its agent: its command, why, its output's end."""
    why = failed.reason or "it failed"
    output = failed.output[-_OUTPUT_SHOWN:].rstrip()
    shown = f"; the end of its output:\n{output}" if output else " and printed nothing"
    return f"its gate `{failed.name}` failed ({why}){shown}"


def gate_prompt(prompt: str, failed: GateResult) -> str:
    """The task's prompt for another try after its change failed `failed`."""
    return (
        f"{prompt.rstrip()}\n\n"
        f"Note: you did this task in this directory already, but your change does not pass the check "
        f"`{failed.command}`, which must pass before your change is accepted. Fix your change here "
        f"(it is still in the files) so that the check passes, and keep doing the task. What the "
        f"check said: {verdict(failed)}\n"
    )
