"""Starting points written to disk: `parallelai init` and `parallelai templates new NAME`."""

from __future__ import annotations

import re
from pathlib import Path

from parallelai.errors import InputError
from parallelai.templates.loader import PROJECT_DIR, parse_template
from parallelai.templates.schema import GROUP_NAME

CONFIG_TOML = """\
# Defaults for this project's runs: flags, PARALLELAI_* variables and a tasks file's own
# settings win over these. Every key: docs/config.md.
[run]
# engine = "claude-code"   # or "codex", "openai:gpt-4.1", "echo" (a dry run with canned answers);
#                          # unset: the first assistant installed and signed in (`parallelai engines`)
parallel = 8               # sub-agents at once
max_tasks = 1000           # refuse plans that fan out wider than this
# timeout = 600            # seconds per task
# retries = 2              # retries of retryable failures per task
# max_cost_usd = 5.0       # no task starts once a run has spent this much

[report]
format = "md"              # md | json | sarif, when the report's file name does not say
# path = "parallelai-report.md"   # write every verb's report here unless --report is given
"""

TASKS_YAML = """\
# An example tasks file: `parallelai run -f .parallelai/tasks.yaml`
name: example
engine: echo    # a dry run with canned answers; delete this line to use the configured engine
parallel: 4
tasks:
  - {id: outline, prompt: "Outline a README for this project"}
  - {id: draft, prompt: "Write the README from this outline: {{ output }}", depends_on: [outline]}
"""

TEMPLATE_YAML = """\
# yaml-language-server: $schema=https://parallelai.dev/schemas/template.schema.json
name: {name}
description: What this template does, in one line.
report: findings
parameters:
  path:
    type: string
    default: "."
    description: directory to work on
groups:
  check:
    files: ["{{{{ path }}}}/**/*.py"]
    prompt: |
      Look at `{{{{ file }}}}` and report each problem you find.

      ```
      {{{{ content }}}}
      ```
      Answer with only a JSON object: {{"findings": [{{"file": "...", "line": 1, "severity": "low", "category": "general", "title": "...", "message": "..."}}]}}
    output_schema:
      type: object
      required: [findings]
      properties:
        findings:
          type: array
          items:
            type: object
            required: [file, line, severity, title]
            properties:
              file: {{type: string}}
              line: {{type: integer, minimum: 1}}
              severity: {{enum: [critical, high, medium, low, info]}}
              category: {{type: string}}
              title: {{type: string}}
              message: {{type: string}}
    example_output:
      findings: []
"""


def init_project(root: Path, force: bool = False) -> list[Path]:
    """Write `.parallelai/config.toml` and an example `.parallelai/tasks.yaml`; refuse to overwrite."""
    files = {
        root / ".parallelai" / "config.toml": CONFIG_TOML,
        root / ".parallelai" / "tasks.yaml": TASKS_YAML,
    }
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} already exists; pass --force to overwrite it")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / PROJECT_DIR).mkdir(parents=True, exist_ok=True)
    return list(files)


def new_template(root: Path, name: str) -> Path:
    """A project template that validates as written, ready to edit."""
    if not re.match(GROUP_NAME, name):
        raise InputError(f"template name {name!r}: use letters, digits and '_', starting with a letter")
    path = root / PROJECT_DIR / f"{name}.yaml"
    if path.exists():
        raise InputError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE_YAML.format(name=name), encoding="utf-8")
    parse_template(path, "project")  # what we write must load; a failure here is our bug
    return path
