"""Findings: problems the agents reported, gathered across tasks, deduplicated and ordered by severity.

A task reports findings by answering `{"findings": [...]}` (the review and audit templates' output
schemas). The same problem reported twice — by two tasks, or twice by one — is one finding: the
key is file, line, category and title (case and spacing ignored); the merged finding keeps the
highest severity and every task that saw it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    file: str
    line: int = Field(default=1, ge=1)
    end_line: int | None = Field(default=None, ge=1)
    severity: Severity = "medium"
    category: str = "general"
    title: str
    message: str = ""
    suggestion: str | None = None
    cwe: str | None = None
    owasp: str | None = None
    tasks: tuple[str, ...] = ()  # the tasks that reported it

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line, self.category.lower(), _normal(self.title))

    @property
    def rank(self) -> int:
        return _RANK[self.severity]


def findings_from_answer(answer: Any, task_id: str, default_file: str | None) -> list[Finding]:
    """The findings in one task's structured answer; malformed entries are left out, not fatal."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("findings"), list):
        return []
    found: list[Finding] = []
    for entry in answer["findings"]:
        if not isinstance(entry, Mapping):
            continue
        data = dict(entry)
        if not data.get("file") and default_file:
            data["file"] = default_file
        if isinstance(data.get("severity"), str):
            data["severity"] = data["severity"].lower()
        try:
            found.append(Finding.model_validate({**data, "tasks": (task_id,)}))
        except ValidationError:
            continue
    return found


def aggregate(findings: Iterable[Finding]) -> list[Finding]:
    """Deduplicate, then sort: most severe first, then by file and line."""
    merged: dict[tuple[str, int, str, str], Finding] = {}
    for finding in findings:
        known = merged.get(finding.key)
        if known is None:
            merged[finding.key] = finding
            continue
        keep = finding if finding.rank < known.rank else known
        tasks = tuple(dict.fromkeys([*known.tasks, *finding.tasks]))
        merged[finding.key] = keep.model_copy(update={"tasks": tasks})
    return sorted(merged.values(), key=lambda f: (f.rank, f.file, f.line, f.category, f.title))


def counts_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counter = Counter(finding.severity for finding in findings)
    return {severity: counter[severity] for severity in SEVERITIES}


def counts_by_file(findings: Iterable[Finding]) -> dict[str, int]:
    counter = Counter(finding.file for finding in findings)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def counts_by_category(findings: Iterable[Finding]) -> dict[str, int]:
    counter = Counter(finding.category for finding in findings)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()
