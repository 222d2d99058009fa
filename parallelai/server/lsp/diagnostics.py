"""Findings as LSP diagnostics, and the board that replaces one run's diagnostics with the next run's."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol.types import Diagnostic, DiagnosticSeverity, Position, PublishDiagnosticsParams, Range

from parallelai.reports.findings import Finding, Severity
from parallelai.server.lsp.protocol import DIAGNOSTIC_SOURCE, DiagnosticData
from parallelai.wire import RunFindings

SEVERITIES: Mapping[Severity, DiagnosticSeverity] = {
    "critical": DiagnosticSeverity.Error,
    "high": DiagnosticSeverity.Error,
    "medium": DiagnosticSeverity.Warning,
    "low": DiagnosticSeverity.Information,
    "info": DiagnosticSeverity.Hint,
}
REPORTS_KEPT = 32  # runs whose findings stay at hand for code actions

Publish = Callable[[PublishDiagnosticsParams], None]


def severity_of(severity: Severity) -> DiagnosticSeverity:
    return SEVERITIES[severity]


def diagnostic_for(finding: Finding, run_id: str) -> Diagnostic:
    """Whole lines, `line` through `end_line` (1-based in a finding, 0-based in LSP).

    The range ends where the line after the last one starts, so no column needs to be computed
    from a file the agent saw and the editor may have changed since.
    """
    last = max(finding.end_line or finding.line, finding.line)
    parts = [
        finding.title,
        finding.message,
        f"Suggestion: {finding.suggestion}" if finding.suggestion else "",
    ]
    return Diagnostic(
        range=Range(Position(line=finding.line - 1, character=0), Position(line=last, character=0)),
        message="\n".join(part for part in parts if part),
        severity=severity_of(finding.severity),
        code=finding.category,
        source=DIAGNOSTIC_SOURCE,
        data=DiagnosticData(run_id=run_id, task_id=finding.tasks[0] if finding.tasks else None).wire(),
    )


@dataclass(frozen=True)
class FindingsReport:
    """One run's findings, placed on disk: `root` is the run's workdir that finding files are relative to."""

    run_id: str
    root: Path
    findings: tuple[Finding, ...]
    patches: Mapping[str, str] = field(default_factory=dict)
    reviewed: bool = False  # a review or audit: no findings means a clean bill, not "not a review"

    @classmethod
    def of(cls, found: RunFindings, default_root: Path) -> FindingsReport:
        # A run started without a workdir ran in the daemon's directory; the workspace is the best guess.
        root = Path(found.workdir) if found.workdir else default_root
        return cls(found.run_id, root, tuple(found.findings), dict(found.patches), found.reviewed)

    def path_of(self, file: str) -> Path:
        return Path(os.path.normpath(self.root / file))

    def uri_of(self, file: str) -> str:
        return self.path_of(file).as_uri()

    def diagnostics(self) -> dict[str, list[Diagnostic]]:
        by_uri: dict[str, list[Diagnostic]] = {}
        for finding in self.findings:
            by_uri.setdefault(self.uri_of(finding.file), []).append(diagnostic_for(finding, self.run_id))
        return by_uri

    def file_at(self, path: Path) -> str | None:
        """The finding file (as the run names it) that is `path` on disk, if any."""
        return next((file for file in self._files() if self.path_of(file) == path), None)

    def _files(self) -> list[str]:
        return list(dict.fromkeys([*(finding.file for finding in self.findings), *self.patches]))


class DiagnosticsBoard:
    """What the editor shows: the diagnostics of the last run that had findings.

    Showing a run first clears the files of the run shown before, so a second review replaces
    the first one's diagnostics instead of piling up on them.
    """

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self.shown_run_id: str | None = None
        self._shown_uris: set[str] = set()  # the files the shown run has diagnostics on
        self._reports: dict[str, FindingsReport] = {}

    def show(self, report: FindingsReport) -> bool:
        """Publish the run's findings. A review that found nothing clears what was shown; any other
        run without findings (a plain prompts run) changes nothing."""
        self.keep(report)
        if not report.findings and not report.reviewed:
            return False
        fresh = report.diagnostics()
        for uri in self._shown_uris - fresh.keys():
            self._publish(PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for uri, diagnostics in fresh.items():
            self._publish(PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))
        self.shown_run_id, self._shown_uris = report.run_id, set(fresh)
        return True

    def report(self, run_id: str) -> FindingsReport | None:
        return self._reports.get(run_id)

    def keep(self, report: FindingsReport) -> None:
        """Remember a run's findings (for code actions) without showing them."""
        self._reports.pop(report.run_id, None)
        self._reports[report.run_id] = report
        while len(self._reports) > REPORTS_KEPT:
            del self._reports[next(iter(self._reports))]
