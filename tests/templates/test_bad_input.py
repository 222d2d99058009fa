"""Each bad input of a template run: a one-line error of the right kind, exit code 2, nothing started."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from parallelai.errors import (
    FileSelectionError,
    InputError,
    MatrixError,
    TasksFileError,
    TemplateError,
)
from parallelai.run_request import RunSettings
from parallelai.templates import load_template, plan_template
from tests.templates.conftest import run_count

GOOD_GROUP = """\
groups:
  review:
    files: ["app/*.py"]
    prompt: "Review {{ file }}"
"""


@dataclass(frozen=True)
class Case:
    template: str
    kind: type[InputError]
    says: str
    params: tuple[str, ...] = ()
    max_tasks: int = 1000


CASES = {
    "invalid YAML": Case("name: t\ngroups:\n  review: [unclosed\n", TasksFileError, "not valid YAML"),
    "YAML alias": Case(
        "name: t\ngroups:\n  a: &g {prompt: hi}\n  b: *g\n",
        TasksFileError,
        "anchors and aliases are not allowed",
    ),
    "duplicate key": Case("name: t\nname: u\n" + GOOD_GROUP, TasksFileError, "duplicate key 'name'"),
    "unknown field": Case("name: t\nstrategy: dag\n" + GOOD_GROUP, TemplateError, "strategy: unknown field"),
    "unknown prompt variable": Case(
        "name: t\ngroups:\n  review:\n    files: ['app/*.py']\n    prompt: 'Review {{ fille }}'\n",
        TemplateError,
        "unknown variable {{ fille }} (did you mean 'file'?)",
    ),
    "unknown depends_on group": Case(
        GOOD_GROUP.replace("groups:", "name: t\ngroups:")
        + "  summary:\n    depends_on: [reveiw]\n    prompt: '{{ output }}'\n",
        TemplateError,
        "unknown group 'reveiw'",
    ),
    "cyclic depends_on": Case(
        "name: t\ngroups:\n  a:\n    depends_on: [b]\n    prompt: x\n  b:\n    depends_on: [a]\n    prompt: y\n",
        TemplateError,
        "cycle: a -> b -> a",
    ),
    "glob escaping the root": Case(
        "name: t\ngroups:\n  review:\n    files: ['../**/*.py']\n    prompt: 'Review {{ file }}'\n",
        FileSelectionError,
        "escapes the workspace root",
    ),
    "matrix missing a column": Case(
        "name: t\nparameters: {input: {required: true}}\ngroups:\n  configure:\n    input: '{{ input }}'\n"
        "    prompt: '{{ row.name }}'\n",
        MatrixError,
        "row 2: missing column 'replicas'",
        ("input=matrix.md",),
    ),
    "fan-out above the cap": Case(
        GOOD_GROUP.replace("groups:", "name: t\ngroups:"),
        FileSelectionError,
        "matched 3 files, more than the limit of 2",
        max_tasks=2,
    ),
}


@pytest.fixture
def bad_template(repo: Path, request: pytest.FixtureRequest) -> tuple[Path, Case]:
    case = CASES[request.param]
    (repo / "matrix.md").write_text("| name | replicas |\n|---|---|\n| api | 3 |\n| worker | |\n")
    path = repo / "bad.yaml"
    path.write_text(case.template)
    return path, case


@pytest.mark.parametrize("bad_template", sorted(CASES), indirect=True)
def test_bad_input_raises_its_kind_with_a_located_message(
    bad_template: tuple[Path, Case], repo: Path
) -> None:
    path, case = bad_template
    params = dict(text.split("=", 1) for text in case.params)
    with pytest.raises(case.kind) as caught:
        plan_template(
            load_template(str(path), repo),
            params,
            RunSettings(engine="echo", workdir=str(repo), max_tasks=case.max_tasks),
        )
    assert case.says in str(caught.value)
    assert "\n" not in str(caught.value)
    if isinstance(caught.value, TemplateError) or case.kind is TasksFileError:
        assert str(caught.value).startswith(f"{path}:")


@pytest.mark.parametrize("bad_template", sorted(CASES), indirect=True)
def test_bad_input_exits_2_on_the_command_line_and_starts_nothing(
    bad_template: tuple[Path, Case],
    repo: Path,
    store_path: Path,
    cli: Callable[[Sequence[str]], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, case = bad_template
    argv = ["execute", "--template", str(path), "-C", str(repo), "--max-tasks", str(case.max_tasks)]
    for param in case.params:
        argv += ["--param", param]

    assert cli(argv) == 2

    error = capsys.readouterr().err
    assert error.startswith("parallelai: error: ")
    assert case.says in error
    assert run_count(store_path) == 0


def test_invalid_yaml_is_located_by_line_and_column(repo: Path) -> None:
    path = repo / "bad.yaml"
    path.write_text("name: t\ngroups:\n  review: [unclosed\n")
    with pytest.raises(TasksFileError) as caught:
        load_template(str(path), repo)
    assert (caught.value.line, caught.value.column) is not None
    assert caught.value.line == 4
    assert caught.value.column == 1
