"""Findings become diagnostics: severities, whole-line ranges, messages, and one run replacing the last."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol.types import DiagnosticSeverity, Position, PublishDiagnosticsParams

from parallelai.reports.findings import Finding, Severity
from parallelai.server.lsp.diagnostics import DiagnosticsBoard, FindingsReport, diagnostic_for, severity_of


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", DiagnosticSeverity.Error),
        ("high", DiagnosticSeverity.Error),
        ("medium", DiagnosticSeverity.Warning),
        ("low", DiagnosticSeverity.Information),
        ("info", DiagnosticSeverity.Hint),
    ],
)
def test_each_finding_severity_has_its_diagnostic_severity(
    severity: Severity, expected: DiagnosticSeverity
) -> None:
    assert severity_of(severity) is expected


def test_a_diagnostic_covers_the_findings_lines_and_says_title_message_and_suggestion() -> None:
    finding = Finding(
        file="app/views.py",
        line=6,
        end_line=7,
        severity="high",
        category="security",
        title="SQL built from user input",
        message="`email` reaches the query unescaped.",
        suggestion="Use a parameterised query.",
        tasks=("review-0003", "audit-0001"),
    )
    diagnostic = diagnostic_for(finding, "r1")
    assert (diagnostic.range.start, diagnostic.range.end) == (Position(5, 0), Position(7, 0))
    assert diagnostic.message == (
        "SQL built from user input\n`email` reaches the query unescaped.\nSuggestion: Use a parameterised query."
    )
    assert (diagnostic.source, diagnostic.code, diagnostic.severity) == (
        "parallelai",
        "security",
        DiagnosticSeverity.Error,
    )
    assert diagnostic.data == {"runId": "r1", "taskId": "review-0003"}


def test_a_one_line_finding_without_a_message_is_its_title_on_its_line() -> None:
    diagnostic = diagnostic_for(Finding(file="a.py", line=1, title="No docstring"), "r1")
    assert (diagnostic.range.start, diagnostic.range.end) == (Position(0, 0), Position(1, 0))
    assert diagnostic.message == "No docstring"


def test_showing_a_run_clears_the_files_of_the_run_shown_before(tmp_path: Path) -> None:
    published: list[PublishDiagnosticsParams] = []
    board = DiagnosticsBoard(published.append)
    first = FindingsReport(
        "r1", tmp_path, (Finding(file="a.py", title="A"), Finding(file="b.py", title="B", severity="high"))
    )
    second = FindingsReport("r2", tmp_path, (Finding(file="b.py", title="B again"),))

    assert board.show(first)
    assert {p.uri: len(p.diagnostics) for p in published} == {
        (tmp_path / "a.py").as_uri(): 1,
        (tmp_path / "b.py").as_uri(): 1,
    }
    published.clear()
    assert board.show(second)
    assert [(p.uri, [d.message for d in p.diagnostics]) for p in published] == [
        ((tmp_path / "a.py").as_uri(), []),
        ((tmp_path / "b.py").as_uri(), ["B again"]),
    ]


def test_a_review_that_found_nothing_clears_the_diagnostics_shown(tmp_path: Path) -> None:
    published: list[PublishDiagnosticsParams] = []
    board = DiagnosticsBoard(published.append)
    board.show(FindingsReport("r1", tmp_path, (Finding(file="a.py", title="A"),)))
    published.clear()
    assert board.show(FindingsReport("r2", tmp_path, (), reviewed=True))
    assert [(p.uri, p.diagnostics) for p in published] == [((tmp_path / "a.py").as_uri(), [])]


def test_a_run_without_findings_leaves_the_diagnostics_shown_alone(tmp_path: Path) -> None:
    published: list[PublishDiagnosticsParams] = []
    board = DiagnosticsBoard(published.append)
    board.show(FindingsReport("r1", tmp_path, (Finding(file="a.py", title="A"),)))
    published.clear()
    assert not board.show(FindingsReport("r2", tmp_path, ()))
    assert published == []
    assert board.report("r2") is not None  # still at hand for code actions


def test_a_finding_file_is_found_again_from_its_path_on_disk(tmp_path: Path) -> None:
    report = FindingsReport("r1", tmp_path, (Finding(file="app/../app/x.py", title="X"),), {"y.py": "@@"})
    assert report.file_at(tmp_path / "app" / "x.py") == "app/../app/x.py"
    assert report.file_at(tmp_path / "y.py") == "y.py"
    assert report.file_at(tmp_path / "z.py") is None
