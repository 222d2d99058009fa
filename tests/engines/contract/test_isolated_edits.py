"""Every editing engine writes in its task's worktree, through a whole isolated run: two tasks, each
scripted to write its own file with the CLI's write tool, merged onto `parallelai/<run>`, the
user's checkout untouched. Real CLIs, real git, the store on disk.

The model names the file either relative to the CLI's working directory (every CLI here resolves
it there, though claude's Write asks for absolute paths), or by its absolute path in the worktree
as the model learns it: the scripted tool call is then made when the request arrives, from the
working directory the CLI told the model about (`FromRequest`). Both must land in the worktree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.models import RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.workspaces import worktrees_root
from tests.engines.contract.adapters import ADAPTERS
from tests.engines.contract.harness import EngineUnderTest
from tests.support.model_server import FromRequest, Reply, ToolCall, Turn
from tests.workspaces._repo import UserView, committed_repo, git, registered_worktrees

pytestmark = pytest.mark.anyio

# Task id: the new file it writes. New, because writing over a file is another sentence (claude's
# Write refuses a file it has not read); and so the tasks declare no `files`, which must exist.
TASKS = {"write-a": "from-a.txt", "write-b": "from-b.txt"}
WRITTEN = "done\n"  # what every adapter's write tool writes


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clean repository with one commit: `git status` says nothing until something writes."""
    return committed_repo(
        tmp_path / "repo", {"README.md": "# demo\n", "app.py": "def main():\n    return 1\n"}
    )


def prompt(task_id: str, name: str) -> str:
    # The marker keys the task's scripted turns: its follow-up request repeats the prompt too.
    return f"[{task_id}] write {name}"


def in_worktree(task_id: str, name: str, call: Callable[[Path], Turn]) -> FromRequest:
    """`call` with the path of `name` in the task's worktree, as the CLI's request names it."""
    root = re.escape(worktrees_root().as_posix())
    where = re.compile(rf"{root}/[\w.-]+/{re.escape(task_id)}(?![\w.-])")

    def make(body: str) -> Turn:
        found = where.search(body)
        if found is None:
            raise LookupError(f"the request names no worktree of {task_id} under {worktrees_root()}")
        return call(Path(found.group(0)) / name)

    return FromRequest(make)


async def run_isolated(
    repo: Path, engine: str, settings: dict[str, Any], tasks: list[Task], changed: dict[str, list[str]]
) -> str:
    """Run `tasks` isolated in `repo` through the service; the run's id once it has succeeded with
    each task's stored and merged change holding exactly the files `changed` says."""
    name = engine.partition(":")[0]
    spec = RunSpec(
        default_engine=engine,
        engine_settings={name: settings},
        workdir=str(repo),
        isolation=True,
        tasks=tasks,
    )
    with anyio.fail_after(240):
        async with OrchestrationService.open() as service:
            run_id = await service.submit(spec)
            summary = await service.wait(run_id)
            records = await service.tasks(run_id)
            changes = await service.store.task_changes(run_id)
    failures = {r.task.id: (r.state, r.reason) for r in records if r.state is not TaskState.SUCCEEDED}
    assert summary.state is RunState.SUCCEEDED, failures
    assert {change.task_id: change.change.paths for change in changes} == changed
    assert {change.outcome for change in changes} == {"merged"}
    return run_id


def assert_merged_and_checkout_untouched(
    repo: Path, run_id: str, before: UserView, merged: dict[str, str] | None = None
) -> None:
    """The integration branch holds `merged` (file: content; by default each task's new file), the
    user's checkout none of it, and no worktree is left."""
    assert UserView.of(repo) == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    for name in TASKS.values():
        assert not (repo / name).exists()
    for name, content in (merged or dict.fromkeys(TASKS.values(), WRITTEN)).items():
        assert git(repo, "show", f"parallelai/{run_id}:{name}") + "\n" == content
    assert registered_worktrees(repo) == [repo]


NEW_FILES = {task_id: [name] for task_id, name in TASKS.items()}


EDITORS = [
    pytest.param(adapter, id=adapter.id, marks=pytest.mark.e2e) for adapter in ADAPTERS if adapter.write
]


@pytest.mark.parametrize("path", ["relative", "absolute"])
@pytest.mark.parametrize("adapter", EDITORS, indirect=True)
async def test_each_task_of_an_isolated_run_writes_its_file_in_its_worktree_and_both_are_merged(
    engine_under_test: EngineUnderTest, repo: Path, path: str
) -> None:
    under_test, adapter = engine_under_test, engine_under_test.adapter
    tool = adapter.write
    assert tool is not None
    for task_id, name in TASKS.items():
        call = tool.call(Path(name)) if path == "relative" else in_worktree(task_id, name, tool.call)
        under_test.server.script_for(f"[{task_id}]", call, Reply(f"wrote {name}"))
    tasks = [Task(id=task_id, prompt=prompt(task_id, name)) for task_id, name in TASKS.items()]
    engine = f"{adapter.name}:{adapter.model}" if adapter.model else adapter.name
    before = UserView.of(repo)

    settings = {**adapter.settings(under_test.setup), **tool.settings}
    run_id = await run_isolated(repo, engine, settings, tasks, NEW_FILES)

    assert_merged_and_checkout_untouched(repo, run_id, before)
    asked = [r for r in under_test.server.requests if isinstance(r.turn, ToolCall)]
    assert len(asked) == len(TASKS)  # each task's write came from its scripted tool call


async def test_each_command_task_of_an_isolated_run_writes_its_file_in_its_worktree(repo: Path) -> None:
    tasks = [
        Task(
            id=task_id,
            prompt=prompt(task_id, name),
            options=TaskOptions(engine_options={"shell": f"printf 'done\\n' > {name}"}),
        )
        for task_id, name in TASKS.items()
    ]
    before = UserView.of(repo)

    run_id = await run_isolated(repo, "command", {}, tasks, NEW_FILES)

    assert_merged_and_checkout_untouched(repo, run_id, before)


ANSWERERS = [pytest.param(adapter, id=adapter.id) for adapter in ADAPTERS if adapter.cli is None]
PATCH = "```diff\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n # demo\n+patched\n```"
CONTENT = "The whole file:\n\n```python\ndef main():\n    return 2\n```\n"


@pytest.mark.parametrize("adapter", ANSWERERS, indirect=True)
async def test_an_api_engine_s_answer_is_its_task_s_edit_a_patch_or_the_one_file_s_content(
    engine_under_test: EngineUnderTest, repo: Path
) -> None:
    under_test, adapter = engine_under_test, engine_under_test.adapter
    under_test.server.script_for("[patch-readme]", Reply(f"Here is the change:\n\n{PATCH}\n"))
    under_test.server.script_for("[rewrite-app]", Reply(CONTENT))
    tasks = [
        Task(id="patch-readme", prompt="[patch-readme] add a line to README.md", files=["README.md"]),
        Task(id="rewrite-app", prompt="[rewrite-app] make main return 2", files=["app.py"]),
    ]
    engine = f"{adapter.name}:{adapter.model}" if adapter.model else adapter.name
    before = UserView.of(repo)

    changed = {"patch-readme": ["README.md"], "rewrite-app": ["app.py"]}
    run_id = await run_isolated(repo, engine, adapter.settings(under_test.setup), tasks, changed)

    merged = {"README.md": "# demo\npatched\n", "app.py": "def main():\n    return 2\n"}
    assert_merged_and_checkout_untouched(repo, run_id, before, merged)
