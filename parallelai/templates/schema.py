"""The template format: a pydantic model of a template file, and the JSON Schema published from it.

    name: code_review
    description: Review each source file against a checklist
    parameters:
      path: {type: string, default: "."}
    groups:
      review:
        files: ["{{ path }}/**/*.py"]
        prompt: |
          Review {{ file }} …
        output_schema: {type: object, …}

Every group becomes tasks: one per selected file, one per input row, or exactly one when it
selects neither. docs/templates.md describes each field; `parallelai templates schema` prints
the JSON Schema that editors use to validate template files.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GROUP_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
PARAMETER_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ParameterType = Literal["string", "integer", "number", "boolean", "list"]
GroupStrategy = Literal["parallel", "batch", "mapreduce"]


class _Strict(BaseModel):
    """A typo in a template must be an error, never a silently ignored field."""

    model_config = ConfigDict(extra="forbid")


class Parameter(_Strict):
    """A value the user passes with `--param NAME=VALUE` (or a keyword of the Python facade)."""

    type: ParameterType = "string"
    description: str = ""
    default: Any = None
    required: bool = False  # without a default and not required, the value is None
    choices: list[Any] | None = None


class Dependency(_Strict):
    """`wait: item` — item X waits only for item X of `group`; `wait: all` — for the whole group."""

    group: Annotated[str, Field(pattern=GROUP_NAME)]
    wait: Literal["item", "all"] = "all"


class ToolPermissions(_Strict):
    """What the agent may use. `allow`/`deny` are tool names as the engine knows them."""

    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    edit: bool = False  # may the agent change files? templates that only read leave this off


class Group(_Strict):
    """A named set of tasks sharing one prompt."""

    description: str = ""
    when: str | None = None  # Jinja over the parameters; the group is left out when it renders falsy
    engine: str | None = None  # `name[:model]`; default: the run's engine
    prompt: str  # Jinja2, sandboxed; see docs/templates.md for the variables
    files: list[str] = Field(default_factory=list)  # globs relative to the workspace root
    exclude: list[str] = Field(default_factory=list)  # globs removed from `files`
    # What each task may change in a run with isolation (Jinja per item, like the prompt); default:
    # its file. For groups that write elsewhere: `["{{ tests_dir }}/**"]`.
    scope: list[str] = Field(default_factory=list)
    input: str | None = None  # a matrix file: Markdown table, CSV, JSON or YAML rows
    columns: list[str] = Field(default_factory=list)  # columns every row must have
    depends_on: list[Annotated[str, Field(pattern=GROUP_NAME)] | Dependency] = Field(default_factory=list)
    strategy: GroupStrategy = "parallel"
    batch_size: Annotated[int, Field(gt=0)] | None = None  # strategy: batch
    reduce: str | None = None  # strategy: mapreduce — the prompt that combines `{{ output }}`
    fan_in: Annotated[int, Field(ge=2)] = 10  # strategy: mapreduce
    output_schema: dict[str, Any] | None = None  # JSON Schema every answer must satisfy
    example_output: Any = None  # a valid answer: checked against output_schema, echoed in dry runs
    tools: ToolPermissions = Field(default_factory=ToolPermissions)
    timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Annotated[int, Field(ge=0, le=100)] | None = None

    def dependencies(self) -> list[Dependency]:
        return [Dependency(group=dep) if isinstance(dep, str) else dep for dep in self.depends_on]

    @property
    def has_items(self) -> bool:
        return bool(self.files or self.input)


class TemplateGate(_Strict):
    """A command parallelai runs itself once every task succeeded (a test suite, a linter); a
    non-zero exit fails the run. The agents never judge it."""

    command: str  # Jinja over the parameters, e.g. "{{ test_after }}"; left out when it renders empty
    name: str | None = None  # how reports name it; default: the command
    when: str | None = None  # Jinja over the parameters; the gate is left out when it renders falsy
    timeout: Annotated[float, Field(gt=0)] | None = None  # seconds; default: no limit


class Template(_Strict):
    """A reusable description of parallel work."""

    name: Annotated[str, Field(pattern=GROUP_NAME)]
    description: str = ""
    # `name[:model]` of the groups that name none, when the run names no engine (flag, environment, config).
    engine: str | None = None
    parameters: dict[Annotated[str, Field(pattern=PARAMETER_NAME)], Parameter] = Field(default_factory=dict)
    groups: Annotated[dict[Annotated[str, Field(pattern=GROUP_NAME)], Group], Field(min_length=1)]
    report: Literal["findings", "outputs"] = "outputs"  # findings: answers carry a `findings` list
    max_parallel: Annotated[int, Field(gt=0)] | None = None
    gates: list[TemplateGate] = Field(default_factory=list)  # run in order once every task succeeded


def template_json_schema() -> dict[str, Any]:
    """The JSON Schema of a template file, as published in docs/template.schema.json."""
    schema = Template.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://parallelai.dev/schemas/template.schema.json",
        **schema,
    }


def template_json_schema_text() -> str:
    return json.dumps(template_json_schema(), indent=2, sort_keys=True) + "\n"
