"""The announcement's snippets, pasted as written, run through the real Claude Code CLI.

Each Python block and the YAML template of `../shared/seed` (the announcement users copy from) is
here verbatim; only `...` is elided and `Task` imported, as the announcement leaves them out. They
run as a user's shell would run them: `claude` on PATH, `ANTHROPIC_API_KEY` and
`ANTHROPIC_BASE_URL` pointing at the scripted model server, no `PARALLELAI_ENGINE` — the
snippets name their engine. Every test asserts what the snippet's words say happened: how many
sub-agents, in which order, with which files in their prompts.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from parallelai import Task
from tests.support.model_server import Reply, ScriptedModelServer, ToolCall, Turn

pytestmark = pytest.mark.e2e

UNIVERSAL_ENGINE_SUPPORT = """
# Work with ANY AI assistant
from parallelai import ParallelOrchestrator
from parallelai.engines import ClaudeCode, Cursor, Copilot, ChatGPT

orchestrator = ParallelOrchestrator(
    engine=ClaudeCode(),  # or Cursor(), Copilot(), etc.
    max_parallel=100,
    strategy="intelligent"  # auto-optimization
)
"""

SIMPLE_TASK_DEFINITION = """
# Define tasks in multiple ways
tasks = [
    "Review all Python files for security issues",
    "Generate unit tests for every class",
    "Update documentation for all APIs",
    {"task": "Refactor", "target": "src/", "pattern": "*.js"},
    Task(template="code_review", files=["*.py", "*.js"]),
]

results = orchestrator.execute(tasks)
"""

INTELLIGENT_STRATEGIES = """
# Different execution patterns for different needs
orchestrator.strategy("pipeline")  # Sequential pipeline
orchestrator.strategy("mapreduce")  # Distributed processing
orchestrator.strategy("dag")  # Dependency graph
orchestrator.strategy("adaptive")  # AI-optimized scheduling
"""

REAL_TIME_MONITORING = """
# Multiple monitoring options
orchestrator.monitor(
    dashboard="web",  # or "terminal", "grafana"
    notifications="slack",
    metrics=True,
    port=8080
)
"""

TEMPLATE_LIBRARY = """
# Reusable templates (e.g., templates/migration/django_to_fastapi.yaml)
name: Django to FastAPI Migration
parallel_tasks:
  - analyze_models:
      engine: claude_code
      prompt: "Analyze Django models in {file}"
      files: "*/models.py"
  
  - generate_schemas:
      engine: claude_code
      prompt: "Convert to Pydantic schemas"
      depends_on: analyze_models
  
  - create_endpoints:
      engine: claude_code
      prompt: "Create FastAPI endpoints"
      depends_on: generate_schemas
"""

AS_PYTHON_LIBRARY = """
from parallelai import orchestrate

@orchestrate(parallel=50)
def process_files(files):
    return "Process each file with AI"

results = process_files(['file1.py', 'file2.js'])
"""

PARALLEL_CODE_REVIEW = """
from parallelai import ParallelAI

pai = ParallelAI(engine="claude-code")

# Review 100 files in parallel
results = pai.review(
    files="src/**/*.py",
    checklist=["security", "performance", "style"],
    parallel=100
)

print(f"Found {results.issues_count} issues")
"""

MASS_REFACTORING = """
# Refactor entire codebase from callbacks to async/await
results = pai.refactor(
    pattern="callback-to-async",
    files="**/*.js",
    parallel=50,
    test_after=True
)
"""

DOCUMENTATION_GENERATION = """
# Generate docs for entire project
results = pai.document(
    style="google",
    output="docs/",
    parallel=30,
    include_examples=True
)
"""


@pytest.fixture
def workspace(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    cli_bin: Callable[[str], Path],
) -> Path:
    """A project directory and a user's shell: Claude Code installed, its key and endpoint set."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", f"{cli_bin('claude').parent}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-snippets-0123456789abcdef")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    monkeypatch.delenv("PARALLELAI_ENGINE", raising=False)  # the snippets name their engine
    return project


def _paste(snippet: str, namespace: dict[str, Any]) -> dict[str, Any]:
    exec(compile(textwrap.dedent(snippet), "<announcement>", "exec"), namespace)
    return namespace


def _bodies(server: ScriptedModelServer) -> list[str]:
    return [json.dumps(request.json) for request in server.requests]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _structured(answer: dict[str, Any]) -> tuple[Turn, Turn]:
    """How Claude Code answers a task with an output schema: its StructuredOutput tool, then done."""
    return ToolCall("StructuredOutput", answer), Reply("done")


def _review_answer(file: str) -> tuple[Turn, Turn]:
    finding = {
        "file": file,
        "line": 1,
        "severity": "high",
        "category": "security",
        "title": "Password compared in plain text",
        "message": "Compare a hash with hmac.compare_digest.",
    }
    return _structured({"summary": f"{file} has one problem.", "findings": [finding]})


def test_the_orchestrator_snippets_fan_out_every_task_form_and_switch_strategies(
    workspace: Path, model_server: ScriptedModelServer
) -> None:
    _write(
        workspace,
        {
            "main.py": "PASSWORD_MAIN = 'hunter2'\n",
            "src/widget.js": "function widgetCallback(cb) { cb(1) }\n",
        },
    )
    clean = _structured({"summary": "Nothing to report.", "findings": []})
    model_server.script_for("careful code review", *clean, *clean)
    namespace = _paste(UNIVERSAL_ENGINE_SUPPORT, {"Task": Task})
    orchestrator = namespace["orchestrator"]
    assert orchestrator.strategy_name == "adaptive"  # "intelligent" is the adaptive strategy

    results = _paste(SIMPLE_TASK_DEFINITION, namespace)["results"]

    assert results.ok, [record.result.error for record in results if record.result]
    prompts = [record.task.prompt for record in results]
    assert len(prompts) == 6  # three prompts, one per src/*.js file, one per file the template reviews
    agents = {request.headers.get("user-agent", "").split("/")[0] for request in model_server.requests}
    assert agents == {"claude-cli"}  # every sub-agent was Claude Code
    bodies = _bodies(model_server)
    assert any(
        "widgetCallback" in body and "Refactor" in body for body in bodies
    )  # the file reached the agent
    reviewed = [record.task.files for record in results if record.task.id.startswith("code_review.")]
    assert sorted(reviewed) == [["main.py"], ["src/widget.js"]]  # the template's own globs, one reviewer each

    _paste(INTELLIGENT_STRATEGIES, namespace)
    assert orchestrator.strategy_name == "adaptive"
    model_server.script_for("[stage one]", Reply("DRAFT-FROM-STAGE-ONE"))
    piped = orchestrator.strategy("pipeline").execute(["[stage one] Draft notes", "[stage two] Shorten them"])
    assert piped.ok
    (second,) = [body for body in _bodies(model_server) if "[stage two]" in body]
    assert "DRAFT-FROM-STAGE-ONE" in second  # the second stage worked on the first one's answer


def test_the_monitor_snippet_starts_the_dashboard_and_metrics_it_names(workspace: Path) -> None:
    namespace = _paste(UNIVERSAL_ENGINE_SUPPORT, {})
    monitoring = eval(compile(textwrap.dedent(REAL_TIME_MONITORING), "<announcement>", "eval"), namespace)

    assert monitoring.daemon_url.endswith(":8080")
    assert any("slack" in line for line in monitoring.notifications)  # configured, or what to configure
    token = monitoring.token_file.read_text().strip()  # the scrape token, as Prometheus reads it
    with httpx.Client(follow_redirects=True) as browser:
        assert browser.get(monitoring.dashboard_url).status_code == 200
    metrics = httpx.get(monitoring.metrics_url, headers={"Authorization": f"Bearer {token}"})
    assert metrics.status_code == 200
    assert "parallelai_" in metrics.text


def test_the_template_snippet_runs_each_step_after_the_one_it_depends_on(
    workspace: Path, model_server: ScriptedModelServer
) -> None:
    _write(
        workspace,
        {
            "templates/migration/django_to_fastapi.yaml": TEMPLATE_LIBRARY,
            "shop/models.py": "class Order(models.Model):\n    total = models.IntegerField()\n",
            "blog/models.py": "class Post(models.Model):\n    title = models.CharField()\n",
        },
    )
    model_server.script_for("class Order", Reply("ORDER-ANALYSIS"))
    model_server.script_for("class Post", Reply("POST-ANALYSIS"))
    model_server.script_for("Convert to Pydantic schemas", Reply("SCHEMAS-WRITTEN"))

    from parallelai.cli.main import main

    assert main(["execute", "--template", "templates/migration/django_to_fastapi.yaml", "--json"]) == 0

    bodies = _bodies(model_server)
    assert len(bodies) == 4  # one agent per models.py, then one per dependent step
    (schemas,) = [body for body in bodies if "Convert to Pydantic schemas" in body]
    assert "ORDER-ANALYSIS" in schemas
    assert "POST-ANALYSIS" in schemas
    (endpoints,) = [body for body in bodies if "Create FastAPI endpoints" in body]
    assert "SCHEMAS-WRITTEN" in endpoints


def test_the_decorator_snippet_gives_each_file_to_its_own_agent(
    workspace: Path, model_server: ScriptedModelServer
) -> None:
    _write(workspace, {"file1.py": "FIRST_FILE_BODY = 1\n", "file2.js": "const SECOND_FILE_BODY = 2\n"})

    results = _paste(AS_PYTHON_LIBRARY, {})["results"]

    assert results.ok
    bodies = _bodies(model_server)
    assert len(bodies) == 2
    assert sum("FIRST_FILE_BODY" in body for body in bodies) == 1
    assert sum("SECOND_FILE_BODY" in body for body in bodies) == 1


def test_the_quick_start_snippets_review_refactor_and_document(
    workspace: Path, model_server: ScriptedModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        workspace,
        {
            "src/auth.py": "def login(password):\n    return password == 'hunter2'\n",
            "web/client.js": "function load(cb) { fetch('/x').then(cb) }\n",
            "package.json": json.dumps(
                {"name": "web", "scripts": {"test": "node -e \"console.log('1 passing')\""}}
            ),
        },
    )
    model_server.script_for("def login", *_review_answer("src/auth.py"))
    namespace = _paste(PARALLEL_CODE_REVIEW, {})
    assert namespace["results"].issues_count == 1
    assert "Found 1 issues" in capsys.readouterr().out

    refactored = {
        "file": "web/client.js",
        "changed": True,
        "changes": [{"line": 1, "before": "cb", "after": "await"}],
    }
    model_server.script_for("function load", *_structured(refactored))
    results = _paste(MASS_REFACTORING, namespace)["results"]
    assert results.complete
    (gate,) = results.run.gates
    assert (gate.command, gate.state, gate.exit_code) == ("npm test", "passed", 0)  # run, not asked
    assert "1 passing" in gate.output

    page = {
        "file": "src/auth.py",
        "doc_file": "docs/src_auth.py.md",
        "documented": ["login"],
        "examples_added": 1,
    }
    model_server.script_for("def login", *_structured(page))
    model_server.script(*_structured({"doc_file": "docs/README.md", "pages": ["docs/src_auth.py.md"]}))
    results = _paste(DOCUMENTATION_GENERATION, namespace)["results"]
    assert results.complete
    (documenting,) = [body for body in _bodies(model_server)[-2:] if "def login" in body]
    assert "docs" in documenting  # the output directory and the style reached the agent
    assert "google" in documenting.lower()
