"""Reports: findings aggregated across a template run's tasks, written as Markdown, JSON or SARIF."""

from parallelai.reports.findings import Finding, aggregate
from parallelai.reports.render import REPORT_FORMATS, ReportFormat, render_report, write_report
from parallelai.reports.results import TaskOutcome, TemplateResults

__all__ = [
    "REPORT_FORMATS",
    "Finding",
    "ReportFormat",
    "TaskOutcome",
    "TemplateResults",
    "aggregate",
    "render_report",
    "write_report",
]
