"""The original template format (`parallel_tasks:`), as the announcement showed it, loads, plans and runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from parallelai.errors import TemplateError
from parallelai.run_request import RunSettings
from parallelai.templates import load_template, parse_template, plan_template
from parallelai.templates.catalog import LibraryCatalog
from tests.templates.conftest import run_count

Cli = Callable[[Sequence[str]], int]

# templates/migration/django_to_fastapi.yaml in the announcement, verbatim (but for the spaces its
# blank lines carried).
ANNOUNCED = """\
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


@pytest.fixture
def announced(repo: Path) -> Path:
    path = repo / "templates" / "migration" / "django_to_fastapi.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(ANNOUNCED)
    return path


def test_the_announced_template_plans_one_analysis_per_models_file_then_schemas_then_endpoints(
    announced: Path, repo: Path
) -> None:
    plan = plan_template(parse_template(announced), {}, RunSettings(workdir=str(repo)))

    tasks = {task.id: task for task in plan.spec.tasks}
    assert {task_id: task.depends_on for task_id, task in tasks.items()} == {
        "analyze_models-0001": [],
        "analyze_models-0002": [],
        "generate_schemas": ["analyze_models-0001", "analyze_models-0002"],
        "create_endpoints": ["generate_schemas"],
    }
    assert [plan.tasks[f"analyze_models-000{n}"].file for n in (1, 2)] == [
        "app/models.py",
        "legacy/models.py",
    ]
    first = tasks["analyze_models-0001"].prompt
    assert first.startswith("Analyze Django models in app/models.py")
    assert "class Order(models.Model):" in first  # the file's content, for engines that cannot read files
    assert "{{ outputs.analyze_models-0001 }}" in tasks["generate_schemas"].prompt
    assert "{{ outputs.analyze_models-0002 }}" in tasks["generate_schemas"].prompt
    assert "{{ outputs.generate_schemas }}" in tasks["create_endpoints"].prompt
    # `claude_code` is the engine's registered name, and the template's: no group overrides the run's.
    assert plan.spec.default_engine == "claude-code"
    assert {task.engine for task in plan.spec.tasks} == {None}
    assert plan.loaded.template.name == "django_to_fastapi_migration"
    assert plan.loaded.template.description == "Django to FastAPI Migration"


def test_the_announced_template_runs_end_to_end_with_execute_and_the_runs_engine(
    announced: Path, repo: Path, store_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    report = repo / "report.json"
    code = cli(
        [
            "execute",
            "--template",
            str(announced),
            "-C",
            str(repo),
            "--engine",
            "echo",
            "--report",
            str(report),
        ]
    )

    assert code == 0
    assert run_count(store_path) == 1
    answers = {task["id"]: task for task in json.loads(report.read_text())["tasks"]}
    assert set(answers) == {
        "analyze_models-0001",
        "analyze_models-0002",
        "generate_schemas",
        "create_endpoints",
    }
    schemas = str(answers["generate_schemas"]["answer"])
    # The echo engine answers with its prompt: the schemas step saw both analyses.
    assert "echo: Analyze Django models in app/models.py" in schemas
    assert "echo: Analyze Django models in legacy/models.py" in schemas
    assert "echo: Convert to Pydantic schemas" in str(answers["create_endpoints"]["answer"])
    assert capsys.readouterr().out.startswith("[SIMULATED]")


def test_templates_convert_prints_a_native_template_that_plans_the_same_tasks(
    announced: Path, repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["templates", "convert", str(announced)]) == 0
    native_text = capsys.readouterr().out
    assert native_text.startswith("# Converted by `parallelai templates convert`")
    assert "parallel_tasks" not in native_text.split("\n", 3)[3]
    native = repo / "django_to_fastapi_native.yaml"
    native.write_text(native_text)

    settings = RunSettings(engine="echo", workdir=str(repo))
    converted = parse_template(native)
    original = parse_template(announced)
    assert not converted.original
    assert converted.template == original.template
    assert (
        plan_template(converted, {}, settings).spec.tasks == plan_template(original, {}, settings).spec.tasks
    )


def test_templates_convert_refuses_a_template_already_in_the_native_format(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["templates", "convert", "migration"]) == 2
    assert "in the native format already" in capsys.readouterr().err


def test_single_brace_names_other_than_prompt_variables_become_required_parameters(repo: Path) -> None:
    path = repo / "t.yaml"
    path.write_text(
        "name: Endpoints\nparallel_tasks:\n"
        "  - write:\n      prompt: 'Write {file} routes into {target_dir}'\n      files: 'app/models.py'\n"
    )
    loaded = parse_template(path)

    assert loaded.template.parameters["target_dir"].required
    plan = plan_template(loaded, {"target_dir": "api"}, RunSettings(engine="echo", workdir=str(repo)))
    assert plan.spec.tasks[0].prompt.startswith("Write app/models.py routes into api")


@pytest.mark.parametrize(
    ("change", "line", "says"),
    [
        pytest.param(
            ("depends_on: analyze_models", "depends_on: analyse_models"),
            11,
            "parallel_tasks[1].generate_schemas.depends_on: unknown step 'analyse_models' (did you mean "
            "'analyze_models'?); steps: analyze_models, create_endpoints. The native form: "
            "`groups: {generate_schemas: {depends_on: [STEP]}}`",
            id="depends_on naming an unknown step",
        ),
        pytest.param(
            ('      files: "*/models.py"\n', '      files: "*/models.py"\n    generate: {prompt: x}\n'),
            3,
            "parallel_tasks[0]: each entry is a one-key mapping `- step_name: {prompt: ..., ...}` (this one "
            "has 2 keys: analyze_models, generate); the native form is `groups: {step_name: {prompt: ...}}`",
            id="an entry with two keys",
        ),
        pytest.param(
            ('prompt: "Create FastAPI endpoints"', 'prompt: "Create FastAPI endpoints for {file}"'),
            15,
            "parallel_tasks[2].create_endpoints.prompt: {file} needs `files:` on this step",
            id="a file placeholder in a step without files",
        ),
        pytest.param(
            ('      files: "*/models.py"\n', '      files: "*/models.py"\n      exclude: "tests/*"\n'),
            7,
            "parallel_tasks[0].analyze_models.exclude: not a field of the original form",
            id="a native field in an original step",
        ),
    ],
)
def test_a_broken_original_template_names_the_line_and_the_native_spelling(
    repo: Path, change: tuple[str, str], line: int, says: str
) -> None:
    path = repo / "broken.yaml"
    path.write_text(ANNOUNCED.replace(*change))

    with pytest.raises(TemplateError) as caught:
        parse_template(path)

    assert caught.value.line == line
    assert f"broken.yaml:{line}: {says}" in str(caught.value)
    assert "docs/templates.md#the-original-format" in str(caught.value)


def test_a_free_text_name_in_the_native_format_suggests_its_slug_and_description(repo: Path) -> None:
    path = repo / "t.yaml"
    path.write_text("name: Django to FastAPI\ngroups:\n  a: {prompt: x}\n")

    with pytest.raises(
        TemplateError, match=r"t.yaml:1: name: .* \(e.g. 'django_to_fastapi'\); put free text"
    ):
        parse_template(path)


def test_the_announced_template_given_as_a_tasks_file_says_to_run_it_with_execute(
    announced: Path, store_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["run", "--tasks-file", str(announced)]) == 2

    err = capsys.readouterr().err
    assert f"{announced}:3: `parallel_tasks:` makes this a template, not a tasks file" in err
    assert "parallelai execute --template FILE" in err
    assert run_count(store_path) == 0


def test_a_project_template_in_the_original_format_loads_by_name(announced: Path, repo: Path) -> None:
    project = repo / ".parallelai" / "templates"
    project.mkdir(parents=True)
    (project / "django_to_fastapi.yaml").write_text(ANNOUNCED)

    loaded = load_template("django_to_fastapi", repo)

    assert loaded.source == "project"
    assert loaded.original
    assert list(loaded.template.groups) == ["analyze_models", "generate_schemas", "create_endpoints"]


def test_the_template_name_configurations_runs_the_configuration_template(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = repo / "ENHANCEMENT_MATRIX.md"
    matrix.write_text("| name | goal |\n|---|---|\n| lint | add ruff |\n| types | add mypy |\n")

    code = cli(
        [
            "execute",
            "--template",
            "configurations",
            "--input",
            str(matrix),
            "-C",
            str(repo),
            "--dry-run",
            "--json",
        ]
    )

    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["template"] == "configuration"
    assert plan["count"] == 2


def test_the_guides_side_by_side_is_the_announced_template_and_what_convert_prints(
    announced: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text(encoding="utf-8")
    section = guide.split("## The original format", 1)[1]
    original = re.search(r"^```yaml\n(.*?)^```$", section, re.S | re.M)
    native = re.search(r"^````yaml\n(.*?)^````$", section, re.S | re.M)
    assert original is not None
    assert native is not None

    assert cli(["templates", "convert", str(announced)]) == 0
    printed = capsys.readouterr().out
    assert original.group(1) == ANNOUNCED
    assert printed.endswith(native.group(1))


def test_servers_find_the_configuration_template_by_the_name_configurations_too(repo: Path) -> None:
    # Servers' catalogs take names only (never paths): the alias must work there as well.
    assert LibraryCatalog(repo).describe("configurations").name == "configuration"
