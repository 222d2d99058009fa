"""Review findings as diagnostics over real stdio: published, replaced by the next run, and acted on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from lsprotocol import types

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import DaemonInfo
from parallelai.server.lsp import protocol
from tests.lsp._session import Inbox, Session, lsp_session
from tests.lsp.test_patches import apply

pytestmark = pytest.mark.anyio

DEADLINE_S = 60.0
APP_FILES = ("app/__init__.py", "app/models.py", "app/views.py")

PATCH = """\
--- a/app/views.py
+++ b/app/views.py
@@ -5,3 +5,3 @@
     # Builds SQL from user input: the security templates should flag this line.
-    query = f"SELECT id, name FROM customer WHERE email = '{email}'"
-    return connection.execute(query).fetchone()
+    query = "SELECT id, name FROM customer WHERE email = ?"
+    return connection.execute(query, (email,)).fetchone()
"""


def data_of(diagnostic: types.Diagnostic) -> dict[str, Any]:
    assert isinstance(diagnostic.data, dict)
    return diagnostic.data


def latest_diagnostics(inbox: Inbox) -> dict[str, list[types.Diagnostic]]:
    """What the editor shows now: the last publication per file."""
    shown: dict[str, list[types.Diagnostic]] = {}
    for params in inbox.of(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS):
        shown[params.uri] = list(params.diagnostics)
    return shown


async def diagnostics_of_run(
    session: Session, run_id: str, uris: set[str]
) -> dict[str, list[types.Diagnostic]]:
    def published(inbox: Inbox) -> dict[str, list[types.Diagnostic]] | None:
        shown = latest_diagnostics(inbox)
        ours = {
            uri: diagnostics
            for uri, diagnostics in shown.items()
            if diagnostics and all(data_of(d)["runId"] == run_id for d in diagnostics)
        }
        return ours if set(ours) == uris else None

    return await session.inbox.wait_for(published)


async def start_and_finish(session: Session, run: dict[str, Any]) -> str:
    started = await session.request(protocol.START_RUN, {"run": run})
    run_id: str = started["id"]
    await session.run_events_until_finished(run_id)
    return run_id


def patching_run(workspace: Path) -> dict[str, Any]:
    """A task whose (echoed) answer is a finding on app/views.py plus a patch that fixes it."""
    answer = {
        "summary": "one injection",
        "findings": [
            {
                "file": "app/views.py",
                "line": 6,
                "end_line": 7,
                "severity": "high",
                "category": "security",
                "title": "SQL built from user input",
                "message": "`email` reaches the query unescaped.",
                "suggestion": "Use a parameterised query.",
            }
        ],
        "file": "app/views.py",
        "patch": PATCH,
    }
    task = {
        "id": "fix-views",
        "prompt": "review app/views.py",
        "files": ["app/views.py"],
        "options": {"output_schema": {"type": "object"}, "engine_options": {"reply": json.dumps(answer)}},
    }
    return {"engine": "echo", "work": {"strategy": "parallel", "tasks": [task]}, "workdir": str(workspace)}


async def code_actions(session: Session, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    answer = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    actions = [action for action in answer or [] if isinstance(action, types.CodeAction)]
    assert len(actions) == len(answer or []), "every answer is a CodeAction"
    return actions


def review_of_app(workspace: Path) -> dict[str, Any]:
    """The `parallelai/startRun` parameters of a code review of the workspace's app/ folder."""
    return {"template": "code_review", "params": {"path": "app"}, "engine": "echo", "workdir": str(workspace)}


async def test_a_reviews_findings_become_diagnostics_that_the_next_review_replaces(
    session: Session, workspace: Path
) -> None:
    app_uris = {(workspace / file).as_uri() for file in APP_FILES}
    legacy_uri = (workspace / "legacy/models.py").as_uri()
    with anyio.fail_after(DEADLINE_S):
        review = await start_and_finish(session, review_of_app(workspace))
        first = await diagnostics_of_run(session, review, app_uris)
        audit = await start_and_finish(
            session, {"template": "security_audit", "params": {"path": "legacy"}, "engine": "echo"}
        )
        second = await diagnostics_of_run(session, audit, {legacy_uri})

    for uri, diagnostics in first.items():
        [diagnostic] = diagnostics
        assert (diagnostic.range.start, diagnostic.range.end) == (types.Position(0, 0), types.Position(1, 0))
        assert diagnostic.severity == types.DiagnosticSeverity.Information  # the echoed example is "low"
        assert (diagnostic.source, diagnostic.code) == ("parallelai", "security")
        assert data_of(diagnostic)["runId"] == review
        assert data_of(diagnostic)["taskId"].startswith("review-"), uri
    [finding] = second[legacy_uri]
    assert finding.severity == types.DiagnosticSeverity.Error  # the audit's example is "high"
    assert finding.message.startswith("SQL built by string formatting\n")
    # The first review's files were cleared, not left to pile up under the audit's.
    assert {uri: latest_diagnostics(session.inbox)[uri] for uri in app_uris} == {uri: [] for uri in app_uris}


async def test_a_diagnostics_code_action_opens_the_result_of_the_task_that_found_it(
    session: Session, workspace: Path
) -> None:
    views = (workspace / "app/views.py").as_uri()
    with anyio.fail_after(DEADLINE_S):
        review = await start_and_finish(session, review_of_app(workspace))
        shown = await diagnostics_of_run(session, review, {(workspace / file).as_uri() for file in APP_FILES})
        [diagnostic] = shown[views]
        actions = await code_actions(session, views, diagnostic)
        [open_result] = actions  # the review suggests no patch
        assert open_result.command is not None
        [arguments] = open_result.command.arguments or []
        result = await session.command(open_result.command.command, arguments)

    assert open_result.title == "ParallelAI: open the task's result"
    assert open_result.command.command == "parallelai.server.openTaskResult"
    assert arguments == {"runId": review, "taskId": data_of(diagnostic)["taskId"]}
    assert (result["runId"], result["taskId"], result["state"], result["error"]) == (
        review,
        data_of(diagnostic)["taskId"],
        "succeeded",
        None,
    )
    assert json.loads(result["text"])["findings"][0]["file"] == "app/views.py"


async def test_a_suggested_patch_is_an_edit_until_the_file_no_longer_matches_it(
    session: Session, workspace: Path
) -> None:
    views_path = workspace / "app/views.py"
    views = views_path.as_uri()
    original = views_path.read_text()
    with anyio.fail_after(DEADLINE_S):
        run_id = await start_and_finish(session, patching_run(workspace))
        [diagnostic] = (await diagnostics_of_run(session, run_id, {views}))[views]
        actions = await code_actions(session, views, diagnostic)
        # The user rewrites the lines the patch was made for, without saving.
        edited = original.replace("return connection.execute(query)", "return connection.execute(query, ())")
        session.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=views, language_id="python", version=1, text=edited)
            )
        )
        stale = await code_actions(session, views, diagnostic)

    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert (diagnostic.range.start, diagnostic.range.end) == (types.Position(5, 0), types.Position(7, 0))
    titles = [action.title for action in actions]
    assert titles == ["ParallelAI: open the task's result", "ParallelAI: apply the suggested patch"]
    patch = actions[1]
    assert patch.edit is not None
    assert patch.edit.changes is not None
    patched = apply(original, list(patch.edit.changes[views]))
    assert 'email = ?"\n    return connection.execute(query, (email,)).fetchone()\n' in patched
    assert (
        patched.replace("(query, (email,))", "(query)").replace(
            '"SELECT id, name FROM customer WHERE email = ?"',
            "f\"SELECT id, name FROM customer WHERE email = '{email}'\"",
        )
        == original
    ), "nothing but the patched lines changed"

    [stale_patch] = [action for action in stale if action.title == "ParallelAI: apply the suggested patch"]
    assert stale_patch.edit is None
    assert stale_patch.disabled is not None
    assert "does not apply cleanly" in stale_patch.disabled.reason


async def test_with_all_runs_a_review_started_elsewhere_still_becomes_diagnostics(workspace: Path) -> None:
    app_uris = {(workspace / file).as_uri() for file in APP_FILES}
    review = review_of_app(workspace)
    with anyio.fail_after(DEADLINE_S):
        async with lsp_session(workspace, "--all-runs") as session:
            daemon = await session.request(protocol.DAEMON, {})
            info = DaemonInfo(url=daemon["url"], token=daemon["token"], pid=0, store="", started_at=0.0)
            # Started from outside the editor (a terminal, an MCP tool): this session never watches it.
            async with DaemonClient(info) as client:
                run_id = (await client.create_run(review)).id
            shown = await diagnostics_of_run(session, run_id, app_uris)
            events = session.inbox.of(protocol.RUN_EVENT)
    assert all(len(diagnostics) == 1 for diagnostics in shown.values())
    assert events == []  # findings, not the run's event stream, which nobody asked for
