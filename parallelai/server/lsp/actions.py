"""Code actions on parallelai diagnostics: open the task's result, apply the run's suggested patch."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from lsprotocol.types import (
    CodeAction,
    CodeActionDisabled,
    CodeActionKind,
    CodeActionParams,
    Command,
    Diagnostic,
    WorkspaceEdit,
)
from pydantic import ValidationError
from pygls.uris import to_fs_path

from parallelai.server.lsp.diagnostics import FindingsReport
from parallelai.server.lsp.patches import PatchError, text_edits
from parallelai.server.lsp.protocol import COMMAND_OPEN_TASK_RESULT, DIAGNOSTIC_SOURCE, DiagnosticData

log = logging.getLogger("parallelai.lsp")

OPEN_RESULT_TITLE = "ParallelAI: open the task's result"
APPLY_PATCH_TITLE = "ParallelAI: apply the suggested patch"

Reports = Callable[[str], Awaitable[FindingsReport | None]]
TextOf = Callable[[str], str]


async def code_actions(
    params: CodeActionParams, reports: Reports, text_of: TextOf, units: Callable[[str], int]
) -> list[CodeAction]:
    """The actions for the parallelai diagnostics in the request's context (other sources' are ignored).

    `reports` finds a run's findings, `text_of` a document's current text (the editor's, if open).
    """
    uri = params.text_document.uri
    actions: list[CodeAction] = []
    opened: set[tuple[str, str]] = set()
    patched: set[str] = set()
    for diagnostic in params.context.diagnostics:
        data = _ours(diagnostic)
        if data is None:
            continue
        if data.task_id is not None and (data.run_id, data.task_id) not in opened:
            opened.add((data.run_id, data.task_id))
            actions.append(_open_result(diagnostic, data))
        if data.run_id in patched:
            continue
        patched.add(data.run_id)
        report = await reports(data.run_id)
        action = _apply_patch(diagnostic, report, uri, text_of, units) if report else None
        if action is not None:
            actions.append(action)
    return actions


def _ours(diagnostic: Diagnostic) -> DiagnosticData | None:
    if diagnostic.source != DIAGNOSTIC_SOURCE or not isinstance(diagnostic.data, dict):
        return None
    try:
        return DiagnosticData.model_validate(diagnostic.data)
    except ValidationError:
        return None


def _open_result(diagnostic: Diagnostic, data: DiagnosticData) -> CodeAction:
    arguments = [{"runId": data.run_id, "taskId": data.task_id}]
    return CodeAction(
        title=OPEN_RESULT_TITLE,
        kind=CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        command=Command(title=OPEN_RESULT_TITLE, command=COMMAND_OPEN_TASK_RESULT, arguments=arguments),
    )


def _apply_patch(
    diagnostic: Diagnostic, report: FindingsReport, uri: str, text_of: TextOf, units: Callable[[str], int]
) -> CodeAction | None:
    """The patch as an edit, or the action disabled with the reason when it no longer applies."""
    path = to_fs_path(uri)
    file = report.file_at(Path(path)) if path else None
    diff = report.patches.get(file) if file else None
    if file is None or diff is None:
        return None
    try:
        edits = text_edits(text_of(uri), diff, file, units)
    except (PatchError, OSError, UnicodeDecodeError) as error:
        log.info("the patch for %s does not apply: %s", file, error)
        return CodeAction(
            title=APPLY_PATCH_TITLE,
            kind=CodeActionKind.QuickFix,
            diagnostics=[diagnostic],
            disabled=CodeActionDisabled(reason=f"the patch does not apply cleanly: {error}"),
        )
    return CodeAction(
        title=APPLY_PATCH_TITLE,
        kind=CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        edit=WorkspaceEdit(changes={uri: edits}),
    )
