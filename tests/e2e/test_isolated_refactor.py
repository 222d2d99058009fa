"""Isolated runs end to end (issue 15): `parallelai refactor --isolate` with 50 real Claude Code
agents on a generated 200-file repository, each editing its file in its own worktree through the
scripted model server; the integration branch, `diff` and `apply`; a conflicting pair; an agent
out of its scope; a failing final gate; and a daemon SIGKILLed mid-run, then restarted."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import stop_daemon
from tests.e2e._scripted_edits import Agent, FileEdit, FileWrite, ScriptedEdits, first_user_text, replace
from tests.support.fixtures import find_cli
from tests.support.model_server import Hang, ScriptedModelServer, default_dialects
from tests.support.polling import until

pytestmark = pytest.mark.e2e

PARALLELAI = str(Path(sys.executable).parent / "parallelai")  # the installed entry point, as a user runs it
MODULES = 200
TARGETS = 50
TARGET_GLOB = "mod_0[0-4]?.py"  # under pkg/: mod_000.py … mod_049.py
PARALLEL = "16"
COMMAND_TIMEOUT_S = 300.0  # the test's own bound on one command; the run's agents get the defaults
DEADLINE_S = 120.0
_GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


# -- the repository ------------------------------------------------------------------------------


def _module(index: int) -> str:
    return f'"""Module {index:03d}."""\n\nfrom pkg.base import old_api\n\n\ndef value_{index:03d}():\n    return old_api({index})\n'


def _refactored(index: int) -> str:
    return _module(index).replace("old_api", "new_api")


def _target(index: int) -> str:
    return f"pkg/mod_{index:03d}.py"


def make_repo(root: Path) -> Path:
    """A committed repository of 200 modules and a few shared files (203 files in all)."""
    repo = root / "repo"
    (repo / "pkg").mkdir(parents=True)
    for index in range(MODULES):
        (repo / _target(index)).write_text(_module(index))
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "base.py").write_text("def old_api(x):\n    return x\n\n\nnew_api = old_api\n")
    (repo / "shared.py").write_text('NAMES = []\nVERSION = "1"\n')
    (repo / "README.md").write_text("# a generated project\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a generated project")
    return repo


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **_GIT_ENV, **_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def snapshot(repo: Path) -> dict[str, str]:
    """Every file of the checkout outside .git, by content hash: what "untouched" compares."""
    return {
        path.relative_to(repo).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }


def branch_file(repo: Path, run_id: str, path: str) -> str:
    return git(repo, "show", f"parallelai/{run_id}:{path}")


def merged_tasks(repo: Path, base: str, run_id: str) -> list[str]:
    """The `Parallelai-Task` trailer of each commit on the run's branch, oldest first."""
    log = git(
        repo,
        "log",
        "--reverse",
        "--format=%(trailers:key=Parallelai-Task,valueonly)%x00",
        f"{base}..parallelai/{run_id}",
    )
    return [entry.strip() for entry in log.split("\0") if entry.strip()]


def changed_paths(repo: Path, base: str, run_id: str) -> set[str]:
    return set(git(repo, "diff", "--name-only", base, f"parallelai/{run_id}").split())


def worktrees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")]


# -- the command line ----------------------------------------------------------------------------


def engine_flags(server: ScriptedModelServer) -> list[str]:
    options = {
        "binary": str(find_cli("claude")),
        "base_url": server.url,
        "api_key": "sk-ant-e2e-0123456789",
        "inherit_config_from": "",
        "cli_max_retries": 0,
        "launch_interval_s": 0.02,
    }
    flags = ["--engine", "claude-code"]
    for key, value in options.items():
        flags += ["-E", f"{key}={value}"]
    return flags


def user_env() -> dict[str, str]:
    """The user's environment: the test's state dir (set by `isolated_state`) and a git identity."""
    return {**os.environ, **_IDENTITY}


def parallelai(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PARALLELAI, *args],
        cwd=repo,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def refactor_agent(index: int) -> Agent:
    path = _target(index)
    old = _module(index).split("\n", 2)[2].rstrip("\n")  # from the import to the end: unique in the file
    return Agent(
        marker=f"`{path}`",
        edits=[replace(path, old, old.replace("old_api", "new_api"))],
        answer={
            "file": path,
            "changed": True,
            "changes": [{"line": 3, "before": "old_api", "after": "new_api"}],
        },
    )


def refactor(server: ScriptedModelServer, *extra: str) -> list[str]:
    return [
        "refactor",
        "--pattern",
        "old_api",
        "--to",
        "new_api",
        "--path",
        "pkg",
        *engine_flags(server),
        "--isolate",
        *extra,
    ]


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"no JSON report (exit {done.returncode}): {done.stderr[-3000:]}") from None
    return report


# -- the tests -----------------------------------------------------------------------------------


def test_fifty_refactoring_agents_each_in_a_worktree_merge_every_edit_and_leave_the_checkout_alone_until_apply(
    tmp_path: Path, isolated_state: Path
) -> None:
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD").strip()
    before = snapshot(repo)
    assert len(before) >= 200
    agents = ScriptedEdits([refactor_agent(index) for index in range(TARGETS)])
    with ScriptedModelServer(default_dialects()) as server:
        agents.serve_on(server, TARGETS * 8)
        done = parallelai(repo, *refactor(server, "--files", TARGET_GLOB, "--parallel", PARALLEL, "--json"))
    assert not agents.unknown, agents.unknown
    report = report_of(done)
    assert done.returncode == 0, (report["failures"], done.stderr[-3000:])
    run_id = report["run"]["id"]
    assert report["run"]["state"] == "succeeded"
    assert report["run"]["counts"]["succeeded"] == TARGETS

    # The checkout: not a byte changed, same HEAD, nothing staged.
    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD").strip() == base
    assert git(repo, "status", "--porcelain") == ""

    # The branch: exactly the 50 intended edits, one commit per task.
    targets = {_target(index) for index in range(TARGETS)}
    assert changed_paths(repo, base, run_id) == targets
    for index in range(TARGETS):
        assert branch_file(repo, run_id, _target(index)) == _refactored(index)
    commits = merged_tasks(repo, base, run_id)
    assert len(commits) == TARGETS
    assert len(set(commits)) == TARGETS
    diff = parallelai(repo, "diff", run_id)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout == git(repo, "diff", "--binary", "--full-index", base, f"parallelai/{run_id}")
    assert diff.stdout.count("\n+from pkg.base import new_api\n") == TARGETS

    applied = parallelai(repo, "apply", run_id)
    assert applied.returncode == 0, applied.stderr
    after = snapshot(repo)
    for path, digest in before.items():
        match = re.fullmatch(r"pkg/mod_(\d{3})\.py", path)
        if match and path in targets:
            assert (repo / path).read_text() == _refactored(int(match.group(1)))
        else:
            assert after[path] == digest, path
    assert set(after) == set(before)
    assert git(repo, "status", "--porcelain") == ""
    # A fast-forward: the branch had not moved since the run started.
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", f"parallelai/{run_id}")
    assert worktrees(repo) == [str(repo)]
    assert not (isolated_state / "worktrees" / run_id).exists()


def _add_name(name: str) -> FileEdit:
    """Add `name` to the NAMES list of shared.py, whatever the list holds when the agent reads it."""

    def change(read: str) -> tuple[str, str]:
        found = re.search(r"NAMES = \[(.*)\]", read)
        assert found is not None, read
        names = [part.strip() for part in found.group(1).split(",") if part.strip()]
        return found.group(0), f"NAMES = [{', '.join([*names, repr(name)])}]"

    return FileEdit("shared.py", change)


def run_tasks(repo: Path, server: ScriptedModelServer, tasks: Path) -> subprocess.CompletedProcess[str]:
    # No permission flags: in its own worktree an agent may edit without being told it may.
    return parallelai(
        repo, "run", "--tasks-file", str(tasks), *engine_flags(server), "--parallel", "2", "--json"
    )


def _tasks_file(repo: Path, tasks: Sequence[Mapping[str, Any]]) -> Path:
    path = repo / "tasks.json"  # `files` are relative to its folder; untracked, so in no worktree
    path.write_text(json.dumps({"engine": "claude-code", "isolation": True, "tasks": list(tasks)}))
    return path


def test_two_tasks_changing_the_same_line_end_with_both_changes_the_second_re_run_on_top_of_the_first(
    tmp_path: Path, isolated_state: Path
) -> None:
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD").strip()
    tasks = _tasks_file(
        repo,
        [
            {"id": "add-a", "prompt": "[add-a] add 'a' to NAMES in shared.py", "files": ["shared.py"]},
            {"id": "add-b", "prompt": "[add-b] add 'b' to NAMES in shared.py", "files": ["shared.py"]},
        ],
    )
    before = snapshot(repo)
    agents = ScriptedEdits([Agent("[add-a]", [_add_name("a")]), Agent("[add-b]", [_add_name("b")])])
    with ScriptedModelServer(default_dialects()) as server:
        agents.serve_on(server, 40)
        done = run_tasks(repo, server, tasks)
        prompts = [first_user_text(request.json) for request in server.requests]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads(done.stdout)
    run_id = run["id"]
    states = {task["id"]: task["state"] for task in run["tasks"]}
    assert states == {"add-a": "succeeded", "add-b": "succeeded"}

    # Both started from the base; the one merged second conflicted and ran again on the branch.
    attempts = {task["id"]: task["attempts"] for task in run["tasks"]}
    assert sorted(attempts.values()) == [1, 2], attempts
    second = max(attempts, key=lambda task_id: attempts[task_id])
    first = "add-a" if second == "add-b" else "add-b"
    reruns = [
        prompt for prompt in prompts if f"[{second}]" in prompt and "Note: you did this task before" in prompt
    ]
    assert reruns, "the re-run's prompt did not show the conflict"
    assert "The files that conflicted: shared.py" in reruns[0]
    # Its first attempt is recorded as failed, the conflict as its error.
    with closing(sqlite3.connect(isolated_state / "parallelai.db")) as db:
        rows = db.execute(
            "SELECT number, state, error_message FROM attempts WHERE run_id = ? AND task_id = ? ORDER BY number",
            (run_id, second),
        ).fetchall()
    assert [(number, state) for number, state, _ in rows] == [(1, "failed"), (2, "succeeded")]
    assert rows[0][2] == (
        "its change conflicts with changes merged before it in shared.py; nothing of it was merged "
        f"(its patch: parallelai diff {run_id} {second})"
    )

    # The branch holds both: the first's edit, and the second's made on top of it.
    assert merged_tasks(repo, base, run_id) == [first, second]
    names = [name[-1] for name in (first, second)]
    assert (
        branch_file(repo, run_id, "shared.py") == f'NAMES = [{", ".join(map(repr, names))}]\nVERSION = "1"\n'
    )
    assert changed_paths(repo, base, run_id) == {"shared.py"}
    # The re-run's patch, as stored, is against the integration head it ran on.
    rerun_patch = parallelai(repo, "diff", run_id, second)
    assert rerun_patch.returncode == 0, rerun_patch.stderr
    assert f"\n-NAMES = [{names[0]!r}]\n+NAMES = [{names[0]!r}, {names[1]!r}]\n" in rerun_patch.stdout
    assert snapshot(repo) == before


def test_an_agent_that_edits_outside_its_scope_fails_and_none_of_its_change_is_merged(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD").strip()
    tasks = _tasks_file(
        repo,
        [
            {"id": "in-scope", "prompt": "[in-scope] bump VERSION in shared.py", "files": ["shared.py"]},
            {
                "id": "stray",
                "prompt": "[stray] rename old_api in pkg/mod_001.py",
                "files": ["pkg/mod_001.py"],
            },
        ],
    )
    before = snapshot(repo)
    agents = ScriptedEdits(
        [
            Agent("[in-scope]", [replace("shared.py", 'VERSION = "1"', 'VERSION = "2"')]),
            Agent(
                "[stray]",
                [
                    replace("pkg/mod_001.py", "old_api(1)", "new_api(1)"),
                    replace("README.md", "# a generated project", "# a project an agent renamed"),
                ],
            ),
        ]
    )
    with ScriptedModelServer(default_dialects()) as server:
        agents.serve_on(server, 40)
        done = run_tasks(repo, server, tasks)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads(done.stdout)
    run_id = run["id"]
    tasks_by_id = {task["id"]: task for task in run["tasks"]}
    assert tasks_by_id["in-scope"]["state"] == "succeeded"
    stray = tasks_by_id["stray"]
    assert stray["state"] == "failed"
    assert stray["result"]["error"]["message"].startswith(
        "changed 1 file outside its scope (pkg/mod_001.py): README.md"
    )

    # Nothing of the stray change is merged, not even its in-scope part; the other task's is.
    assert changed_paths(repo, base, run_id) == {"shared.py"}
    assert merged_tasks(repo, base, run_id) == ["in-scope"]
    # Its patch is kept, for `diff RUN TASK`.
    patch = parallelai(repo, "diff", run_id, "stray")
    assert patch.returncode == 0, patch.stderr
    assert "README.md" in patch.stdout
    assert "pkg/mod_001.py" in patch.stdout
    assert snapshot(repo) == before


def test_an_isolated_test_generation_task_may_write_its_new_test_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD").strip()
    content = "from pkg.mod_000 import value_000\n\n\ndef test_it():\n    assert value_000() == 0\n"
    answer = {
        "source_file": _target(0),
        "test_file": "tests/test_mod_000.py",
        "content": content,
        "covers": ["value_000"],
        "estimated_coverage": 100,
    }
    agents = ScriptedEdits([Agent(f"`{_target(0)}`", [FileWrite("tests/test_mod_000.py", content)], answer)])
    with ScriptedModelServer(default_dialects()) as server:
        agents.serve_on(server, 20)
        done = parallelai(
            repo,
            "test-gen",
            "--path",
            "pkg",
            "--files",
            "mod_000.py",
            *engine_flags(server),
            "--isolate",
            "--json",
        )
    report = report_of(done)
    assert done.returncode == 0, report["failures"]
    assert branch_file(repo, report["run"]["id"], "tests/test_mod_000.py") == content
    assert changed_paths(repo, base, report["run"]["id"]) == {"tests/test_mod_000.py"}


def test_a_final_gate_failing_on_the_merged_changes_fails_the_run_with_its_output_in_the_report(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    before = snapshot(repo)
    # Passes on the base (and on the untouched checkout); fails once any refactored module is merged,
    # printing the modules that now call new_api.
    gate = "! grep -l 'return new_api' pkg/mod_00?.py"
    written = tmp_path / "report.md"
    agents = ScriptedEdits([refactor_agent(index) for index in range(4)])
    with ScriptedModelServer(default_dialects()) as server:
        agents.serve_on(server, 40)
        done = parallelai(
            repo,
            *refactor(
                server,
                "--files",
                "mod_00[0-3].py",
                "--parallel",
                "4",
                "--gate",
                gate,
                "--json",
                "--report",
                str(written),
            ),
        )
    report = report_of(done)
    run_id = report["run"]["id"]
    assert report["run"]["counts"]["succeeded"] == 4, report["failures"]
    assert done.returncode == 1, done.stderr[-3000:]
    assert report["run"]["state"] == "failed"
    [result] = report["gates"]
    assert result["command"] == gate
    assert result["state"] == "failed"
    assert result["exit_code"] == 1
    assert set(result["output"].split()) == {_target(index) for index in range(4)}
    assert f"### `{gate}`: failed (exit code 1)\n\n```text\npkg/mod_000.py\n" in written.read_text()
    shown = parallelai(repo, "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert f"gate failed: {gate} (exit code 1): pkg/mod_003.py" in shown.stdout
    assert f"run {run_id} failed: 4/4 succeeded" in shown.stdout
    # The gate ran on the merged changes, not in the checkout, which stays as it was.
    assert snapshot(repo) == before
    assert worktrees(repo) == [str(repo)]


@pytest.mark.anyio
async def test_a_daemon_killed_mid_run_then_restarted_merges_each_change_once_and_leaves_no_worktree(
    tmp_path: Path, isolated_state: Path
) -> None:
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD").strip()
    count, held = 8, [3, 5, 6]  # held agents hang after their edit, so the kill finds them running
    agents = ScriptedEdits([refactor_agent(index) for index in range(count)], hang_at=2)
    agents.hold([f"`{_target(index)}`" for index in held])
    with ScriptedModelServer(default_dialects()) as server:
        agents.serve_on(server, count * 12)
        client_log = (tmp_path / "client.log").open("wb")
        client = await anyio.open_process(
            [
                PARALLELAI,
                *refactor(server, "--files", "mod_00[0-7].py", "--parallel", "4", "--daemon", "--json"),
            ],
            cwd=repo,
            env=user_env(),
            stderr=client_log,
        )
        try:
            # Wait for: every held agent hanging, and every other task's change merged.
            await until(lambda: _hanging(server) >= len(held), DEADLINE_S)
            run_id = await until(lambda: _only_run(isolated_state), DEADLINE_S)
            # Recorded as succeeded too, not only merged: a task cut off between its merge and the
            # record of its success runs again on resume (and is not merged twice), which would
            # blur what this test counts.
            await until(lambda: len(_merged_so_far(repo, base, run_id)) >= count - len(held), DEADLINE_S)
            await until(lambda: _succeeded(isolated_state, run_id) >= count - len(held), DEADLINE_S)
            daemon = read_discovery()
            assert daemon is not None
            assert any((isolated_state / "worktrees" / run_id).iterdir())
            os.kill(daemon.pid, signal.SIGKILL)
            agents.release()
            restarted = await anyio.run_process(
                [PARALLELAI, "serve", "--detach", "--port", "0"], cwd=repo, env=user_env(), check=False
            )
            assert restarted.returncode == 0, restarted.stderr.decode()
            with anyio.fail_after(DEADLINE_S):
                assert client.stdout is not None
                stdout = b"".join([chunk async for chunk in client.stdout]).decode()
                code = await client.wait()
        finally:
            if client.returncode is None:
                client.kill()
            client_log.close()
            await stop_daemon()
    assert not agents.unknown, agents.unknown
    assert stdout, (tmp_path / "client.log").read_text()
    report = json.loads(stdout)
    assert code == 0, report["failures"]
    assert report["run"]["id"] == run_id
    assert report["run"]["state"] == "succeeded"

    # Each task's change merged exactly once, and nothing else.
    commits = merged_tasks(repo, base, run_id)
    assert sorted(commits) == sorted(task["id"] for task in report["tasks"])
    assert len(commits) == count
    assert changed_paths(repo, base, run_id) == {_target(index) for index in range(count)}
    for index in range(count):
        assert branch_file(repo, run_id, _target(index)) == _refactored(index)

    # The held tasks ran again after the restart; the others, merged before the kill, did not.
    with closing(sqlite3.connect(isolated_state / "parallelai.db")) as db:
        rows = db.execute(
            "SELECT task_id, state FROM attempts WHERE run_id = ? ORDER BY task_id, number", (run_id,)
        ).fetchall()
    attempts: dict[str, list[str]] = {}
    for task_id, state in rows:
        attempts.setdefault(task_id, []).append(state)
    held_ids = {task["id"] for task in report["tasks"] if task["item"] in {_target(index) for index in held}}
    assert len(held_ids) == len(held)
    assert attempts == {
        task["id"]: ["interrupted", "succeeded"] if task["id"] in held_ids else ["succeeded"]
        for task in report["tasks"]
    }

    # No worktree left: not under the state dir, not in git's list, not the base's pin.
    run_dir = isolated_state / "worktrees" / run_id
    assert not run_dir.exists() or not any(run_dir.iterdir())
    assert worktrees(repo) == [str(repo)]
    assert git(repo, "for-each-ref", "refs/parallelai/") == ""


def _hanging(server: ScriptedModelServer) -> int:
    return sum(isinstance(request.turn, Hang) for request in server.requests)


def _only_run(state: Path) -> str | None:
    root = state / "worktrees"
    runs = [entry.name for entry in root.iterdir()] if root.is_dir() else []
    return runs[0] if len(runs) == 1 else None


def _succeeded(state: Path, run_id: str) -> int:
    with closing(sqlite3.connect(f"file:{state / 'parallelai.db'}?mode=ro", uri=True)) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM tasks WHERE run_id = ? AND state = 'succeeded'", (run_id,)
        ).fetchone()
    return int(row[0])


def _merged_so_far(repo: Path, base: str, run_id: str) -> list[str]:
    try:
        return merged_tasks(repo, base, run_id)
    except subprocess.CalledProcessError:  # the branch is not there yet
        return []
