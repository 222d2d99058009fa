"""What each agent answered, as the Markdown report shows it: every answer, each cut to a readable size.

The JSON report keeps every answer whole; Markdown is for reading, so an answer longer than
`MAX_LINES` lines or `MAX_CHARS` characters is cut there and says where the rest is. In a findings
report the findings are already listed above the answers, so they are left out of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from parallelai.models import TaskState
from parallelai.reports.results import TaskOutcome, TemplateResults

MAX_LINES = 40
MAX_CHARS = 4096
TRUNCATED = "…(truncated, full text in the JSON report)"


def answers_markdown(results: TemplateResults) -> list[str]:
    """The `## Answers` section: one entry per task that answered anything."""
    findings_report = results.plan.loaded.template.report == "findings"
    entries: list[str] = []
    for outcome in results.outcomes:
        parts = _parts(outcome.answer, findings_report)
        if not parts:
            continue
        state = "" if outcome.state is TaskState.SUCCEEDED else f" ({outcome.state})"
        entries += [f"### `{outcome.task_id}` · {_heading(outcome)}{state}", ""]
        for title, text, language in parts:
            entries += [*([f"`{title}`:", ""] if title else []), *_fenced(excerpt(text), language), ""]
    if not entries:
        return []
    intro = "What each agent answered" + (" besides its findings (listed above)" if findings_report else "")
    return ["## Answers", "", f"{intro}; each part is cut at {MAX_LINES} lines.", "", *entries]


def excerpt(text: str, max_lines: int = MAX_LINES, max_chars: int = MAX_CHARS) -> str:
    """`text` cut at `max_lines` lines or `max_chars` characters, whichever comes first, marked when cut."""
    lines = text.splitlines()
    cut = "\n".join(lines[:max_lines])
    truncated = len(lines) > max_lines
    if len(cut) > max_chars:
        cut, truncated = cut[:max_chars], True
    return f"{cut.rstrip()}\n{TRUNCATED}" if truncated else cut


def _parts(answer: Any, findings_report: bool) -> list[tuple[str, str, str]]:
    """The answer as `(field, text, code language)` parts: structured fields as JSON, and each
    multi-line text field (a test file, a diff) as text of its own, readable as written."""
    if answer is None or answer == "":
        return []
    if isinstance(answer, str):
        return [("", answer, "")]
    if not isinstance(answer, Mapping):
        return [("", json.dumps(answer, indent=2, ensure_ascii=False), "json")]
    shown = {key: value for key, value in answer.items() if not (findings_report and key == "findings")}
    texts = {key: value for key, value in shown.items() if isinstance(value, str) and "\n" in value}
    rest = {key: value for key, value in shown.items() if key not in texts}
    parts = [("", json.dumps(rest, indent=2, ensure_ascii=False), "json")] if rest else []
    return parts + [(key, text, "diff" if key == "patch" else "") for key, text in texts.items()]


def _heading(outcome: TaskOutcome) -> str:
    return outcome.label.replace("\n", " ")


def _fenced(text: str, language: str) -> list[str]:
    # A fence longer than any run of backticks in the answer, so the answer cannot close it.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text, fence]
