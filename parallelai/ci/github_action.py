"""The GitHub Action's steps: plan what to run, run it with the CLI, write the job summary, outputs and SARIF.

`action.yml` only installs things and calls this module, so every step here runs in a test that
emulates the runner. Two commands:

    python -m parallelai.ci.github_action cli-package   # which npm package the engine needs
    python -m parallelai.ci.github_action run           # the work; exits per `fail-on`

The action's inputs arrive as `INPUT_<NAME>` environment variables (action.yml maps them, since a
composite action does not). Exit codes of `run`: 0 nothing at or above `fail-on` and every task
succeeded; 1 findings at or above `fail-on`; 2 a run failed (a task failed, a budget ran out, an
input was wrong).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parallelai._version import __version__

SEVERITIES = ("critical", "high", "medium", "low", "info")
FAIL_ON_CHOICES = (*SEVERITIES, "never")

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2

# `tasks: security,tests,docs` names these verbs; a verb's own name works too.
VERBS = {
    "security": "security-scan",
    "security-scan": "security-scan",
    "tests": "test-gen",
    "test-gen": "test-gen",
    "docs": "docs",
    "review": "review",
}

# The names users know an assistant by, mapped to the engine that drives it.
ENGINE_ALIASES = {"github-copilot": "copilot", "claude": "claude-code", "gemini": "gemini-cli"}

# The assistant CLIs installed from npm, at the exact versions scripts/install-clis.sh pins (a test
# keeps the two lists equal).
ENGINE_NPM_PACKAGES = {
    "claude-code": "@anthropic-ai/claude-code@2.1.197",
    "codex": "@openai/codex@0.169.0",
    "gemini-cli": "@google/gemini-cli@0.61.0",
    "copilot": "@github/copilot@1.0.102",
}

TOP_FINDINGS = 10

# The inputs `run` reads, as action.yml names them (a test keeps action.yml passing all of them).
INPUT_NAMES = ("tasks", "template", "tasks-file", "path", "engine", "parallel", "max-cost", "fail-on")


class ActionInputError(ValueError):
    """An input of the action is malformed; the message says which and what it accepts."""


@dataclass(frozen=True)
class ActionInputs:
    """The action's inputs, checked."""

    tasks: tuple[str, ...] = ()
    template: str = ""
    tasks_file: str = ""
    engine: str = ""
    parallel: int | None = None
    max_cost: float | None = None
    fail_on: str = "high"
    path: str = "."

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        def get(name: str) -> str:
            assert name in INPUT_NAMES, name
            return env.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip()

        tasks = tuple(name.strip() for name in get("tasks").split(",") if name.strip())
        unknown = [name for name in tasks if name not in VERBS]
        if unknown:
            raise ActionInputError(f"tasks: unknown {', '.join(unknown)}; use any of {', '.join(VERBS)}")
        fail_on = get("fail-on").lower() or "high"
        if fail_on not in FAIL_ON_CHOICES:
            raise ActionInputError(f"fail-on: {fail_on!r} is not one of {', '.join(FAIL_ON_CHOICES)}")
        inputs = cls(
            tasks=tasks,
            template=get("template"),
            tasks_file=get("tasks-file"),
            engine=engine_name(get("engine")),
            parallel=_whole(get("parallel"), "parallel"),
            max_cost=_number(get("max-cost"), "max-cost"),
            fail_on=fail_on,
            path=get("path") or ".",
        )
        if not (inputs.tasks or inputs.template or inputs.tasks_file):
            raise ActionInputError("nothing to run: set `tasks`, `template` or `tasks-file`")
        return inputs


def _number(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ActionInputError(f"{name}: {text!r} is not a number") from None
    if value <= 0:
        raise ActionInputError(f"{name}: must be more than 0, not {text}")
    return value


def _whole(text: str, name: str) -> int | None:
    value = _number(text, name)
    if value is not None and not value.is_integer():
        raise ActionInputError(f"{name}: must be a whole number, not {text}")
    return None if value is None else int(value)


def engine_name(name: str) -> str:
    return ENGINE_ALIASES.get(name, name)


@dataclass
class Invocation:
    """One `parallelai` command the action ran, and what it reported."""

    label: str
    argv: list[str]
    returncode: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    sarif: Path | None = None
    stderr: str = ""

    @property
    def run(self) -> dict[str, Any]:
        # A template report nests its run; a tasks-file run is the run itself.
        run = self.report.get("run", self.report)
        return run if isinstance(run, dict) else {}

    @property
    def cost(self) -> float:
        return float(self.run.get("usage", {}).get("cost_usd") or 0.0)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.report.get("findings", []))

    @property
    def failed_tasks(self) -> list[dict[str, Any]]:
        return [
            task
            for task in self.run.get("tasks", self.report.get("tasks", []))
            if task.get("state") == "failed"
        ]

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or not self.report or self.run.get("state") != "succeeded"


def plan(inputs: ActionInputs, workspace: Path, reports: Path) -> list[Invocation]:
    """The commands to run, in order: the tasks file, then the template, then each named verb."""
    common: list[str] = ["--json"]
    if inputs.engine:
        common += ["--engine", inputs.engine]
    if inputs.parallel:
        common += ["--parallel", str(inputs.parallel)]
    planned: list[Invocation] = []
    if inputs.tasks_file:
        planned.append(Invocation("tasks-file", ["run", "--tasks-file", inputs.tasks_file, *common]))
    # Template runs write into the checkout (no worktrees), so a later step can commit or open a PR.
    template_args = ["-C", str(workspace), "--no-isolate"]
    if inputs.template:
        sarif = reports / "template.sarif"
        argv = ["execute", "--template", inputs.template, *template_args, "--report", str(sarif), *common]
        planned.append(Invocation(inputs.template, argv, sarif=sarif))
    for name in dict.fromkeys(VERBS[task] for task in inputs.tasks):
        sarif = reports / f"{name}.sarif"
        argv = [name, "--path", inputs.path, *template_args, "--report", str(sarif), *common]
        planned.append(Invocation(name, argv, sarif=sarif))
    return planned


def execute(invocation: Invocation, workspace: Path, budget: float | None) -> None:
    argv = list(invocation.argv)
    if budget is not None:
        argv += ["--max-cost-usd", f"{budget:.6f}"]
    print(f"::group::parallelai {' '.join(argv)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "parallelai", *argv],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    invocation.returncode, invocation.stderr = done.returncode, done.stderr
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = None
    invocation.report = report if isinstance(report, dict) else {}
    if invocation.sarif is not None and not invocation.sarif.is_file():
        invocation.sarif = None


def at_or_above(severity: str, threshold: str) -> bool:
    if threshold == "never" or severity not in SEVERITIES:
        return False
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


def exit_code(invocations: Sequence[Invocation], fail_on: str) -> int:
    if any(invocation.failed for invocation in invocations):
        return EXIT_FAILED
    findings = [finding for invocation in invocations for finding in invocation.findings]
    if any(at_or_above(str(finding.get("severity")), fail_on) for finding in findings):
        return EXIT_FINDINGS
    return EXIT_OK


def severity_counts(invocations: Sequence[Invocation]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for invocation in invocations:
        for finding in invocation.findings:
            severity = str(finding.get("severity"))
            if severity in counts:
                counts[severity] += 1
    return counts


def merge_sarif(invocations: Sequence[Invocation], target: Path) -> Path | None:
    """One SARIF file of every template run's SARIF run, for one `upload-sarif` step. Each run keeps
    its own `automationDetails.id` (parallelai/TEMPLATE/RUN), so code scanning files each template's
    alerts under its own category."""
    runs: list[Any] = []
    for invocation in invocations:
        if invocation.sarif is not None:
            runs += json.loads(invocation.sarif.read_text()).get("runs", [])
    if not runs:
        return None
    document = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": runs}
    target.write_text(json.dumps(document, indent=2) + "\n")
    return target


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(
    invocations: Sequence[Invocation], inputs: ActionInputs, code: int, event: Mapping[str, Any]
) -> str:
    counts = severity_counts(invocations)
    cost = sum(invocation.cost for invocation in invocations)
    lines = ["## parallelai", ""]
    pull = event.get("pull_request")
    if isinstance(pull, dict):
        lines += [f"Pull request #{pull.get('number')}: {_cell(pull.get('title', ''))}", ""]
    if any(invocation.report.get("simulated") for invocation in invocations):
        lines += [
            "> [!WARNING]",
            "> The `echo` engine made these answers up: nothing here is about your code.",
            "",
        ]
    lines += ["| run | id | state | succeeded | failed | cost (USD) |", "|---|---|---|---|---|---|"]
    for invocation in invocations:
        run, tasks = invocation.run, invocation.run.get("counts", {})
        state = run.get("state") or f"did not run (exit {invocation.returncode})"
        lines.append(
            f"| {_cell(invocation.label)} | {run.get('id', '')} | {state} | {tasks.get('succeeded', 0)}"
            f" | {tasks.get('failed', 0)} | {invocation.cost:.4f} |"
        )
    lines += [
        "",
        f"**Findings**: {sum(counts.values())} (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")",
    ]
    lines += [f"**Cost**: ${cost:.4f}", ""]
    findings = sorted(
        (finding for invocation in invocations for finding in invocation.findings),
        key=lambda finding: (
            SEVERITIES.index(finding["severity"]) if finding.get("severity") in SEVERITIES else 99
        ),
    )
    if findings:
        lines += [
            f"### Top findings (at most {TOP_FINDINGS})",
            "",
            "| severity | where | finding |",
            "|---|---|---|",
        ]
        for finding in findings[:TOP_FINDINGS]:
            where = f"{finding.get('file', '')}:{finding.get('line', '')}".rstrip(":")
            lines.append(
                f"| {finding.get('severity')} | `{_cell(where)}` | {_cell(finding.get('title', ''))} |"
            )
        lines.append("")
    failed = [(invocation, task) for invocation in invocations for task in invocation.failed_tasks]
    broken = [invocation for invocation in invocations if not invocation.report]
    if failed or broken:
        lines += ["### Failed", ""]
        for invocation, task in failed:
            reason = task.get("reason") or task.get("error") or "failed"
            lines.append(f"- {_cell(invocation.label)} / `{task.get('id')}`: {_cell(reason)}")
        for invocation in broken:
            tail = invocation.stderr.strip().splitlines()[-1:] or ["no output"]
            lines.append(f"- {_cell(invocation.label)}: exited {invocation.returncode}: {_cell(tail[0])}")
        lines.append("")
    verdict = {
        EXIT_OK: "passed",
        EXIT_FINDINGS: f"findings at or above `{inputs.fail_on}`",
        EXIT_FAILED: "a run failed",
    }
    lines += [f"Result: **{verdict[code]}** (exit {code}) · parallelai {__version__}", ""]
    return "\n".join(lines)


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(text)


def _outputs(values: Mapping[str, object]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def run_action(env: Mapping[str, str]) -> int:
    """The `run` step: everything the action does, reading the runner's environment."""
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    try:
        inputs = ActionInputs.from_env(env)
    except ActionInputError as error:
        print(f"::error title=parallelai::{error}", flush=True)
        _append(env.get("GITHUB_STEP_SUMMARY"), f"## parallelai\n\nInput error: {error}\n")
        _append(env.get("GITHUB_OUTPUT"), _outputs({"exit-code": EXIT_FAILED}))
        return EXIT_FAILED
    reports = Path(
        env.get("INPUT_REPORT_DIR") or Path(env.get("RUNNER_TEMP") or workspace) / "parallelai-reports"
    )
    reports.mkdir(parents=True, exist_ok=True)
    event: dict[str, Any] = {}
    if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
        event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())

    pinned = env.get("PARALLELAI_ACTION_VERSION")
    if pinned and pinned != __version__:
        print(f"::warning title=parallelai::the action says {pinned} but installed parallelai {__version__}")
    invocations = plan(inputs, workspace, reports)
    spent = 0.0
    for invocation in invocations:
        budget = None if inputs.max_cost is None else max(inputs.max_cost - spent, 0.0)
        execute(invocation, workspace, budget)
        sys.stdout.write(invocation.stderr)
        print("::endgroup::", flush=True)
        spent += invocation.cost
        (reports / f"{invocation.label}.json").write_text(json.dumps(invocation.report, indent=2) + "\n")

    code = exit_code(invocations, inputs.fail_on)
    sarif = merge_sarif(invocations, reports / "parallelai.sarif")
    counts = severity_counts(invocations)
    ids = [str(invocation.run["id"]) for invocation in invocations if invocation.run.get("id")]
    outputs: dict[str, object] = {
        "run-id": ids[0] if ids else "",
        "run-ids": ",".join(ids),
        "findings": sum(counts.values()),
        **{f"findings-{severity}": count for severity, count in counts.items()},
        "succeeded-tasks": sum(
            invocation.run.get("counts", {}).get("succeeded", 0) for invocation in invocations
        ),
        "failed-tasks": sum(invocation.run.get("counts", {}).get("failed", 0) for invocation in invocations),
        "cost-usd": f"{spent:.4f}",
        "report-dir": reports,
        "sarif": sarif or "",
        "exit-code": code,
    }
    _append(env.get("GITHUB_OUTPUT"), _outputs(outputs))
    _append(env.get("GITHUB_STEP_SUMMARY"), summary_markdown(invocations, inputs, code, event))
    return code


def cli_package(env: Mapping[str, str]) -> int:
    """The `cli-package` step: the engine's npm package (empty when it needs none) and its engine name."""
    engine = engine_name(env.get("INPUT_ENGINE", "").strip())
    _append(
        env.get("GITHUB_OUTPUT"),
        _outputs({"engine": engine, "npm-package": ENGINE_NPM_PACKAGES.get(engine, "")}),
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {"run": run_action, "cli-package": cli_package}
    if len(args) != 1 or args[0] not in commands:
        print(f"usage: python -m parallelai.ci.github_action {{{','.join(commands)}}}", file=sys.stderr)
        return EXIT_FAILED
    return commands[args[0]](os.environ)


if __name__ == "__main__":
    sys.exit(main())
