"""The template format's JSON Schema: published, in sync with the model, and satisfied by the library."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from parallelai.templates import list_templates, template_json_schema, template_json_schema_text

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_committed_schema_matches_the_model() -> None:
    committed = (DOCS / "template.schema.json").read_text(encoding="utf-8")
    assert committed == template_json_schema_text(), (
        "docs/template.schema.json is stale: run `parallelai templates schema > docs/template.schema.json`"
    )


def test_every_builtin_template_validates_against_the_published_schema() -> None:
    validator = jsonschema.Draft202012Validator(template_json_schema())
    for info in list_templates():
        if info.source == "builtin":
            validator.validate(yaml.safe_load(info.path.read_text(encoding="utf-8")))


def test_the_schema_refuses_unknown_fields_as_the_loader_does() -> None:
    validator = jsonschema.Draft202012Validator(template_json_schema())
    document = {"name": "t", "groups": {"a": {"prompt": "x", "promtp": "typo"}}}
    assert not validator.is_valid(document)
    assert json.loads(template_json_schema_text())["$schema"].endswith("2020-12/schema")
