"""Template parameters: the user's values checked against the declared types, defaults filled in."""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any

import yaml

from parallelai.errors import InputError
from parallelai.templates.schema import Parameter, Template


def parse_param(text: str, option: str = "--param") -> tuple[str, Any]:
    """`NAME=VALUE` from the command line; the value is read as YAML (`3`, `true`, `[a, b]`)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"{option} expects NAME=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def resolve_params(template: Template, given: Mapping[str, Any]) -> dict[str, Any]:
    declared = template.parameters
    for name in given:
        if name not in declared:
            close = get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(declared) or "none"
            raise InputError(
                f"template {template.name!r} has no parameter {name!r}{hint}; parameters: {known}"
            )
    values: dict[str, Any] = {}
    for name, parameter in declared.items():
        if name in given and given[name] is not None:
            values[name] = _coerce(template.name, name, parameter, given[name])
        elif parameter.required:
            raise InputError(
                f"template {template.name!r} needs --param {name}=… ({parameter.description or parameter.type})"
            )
        else:
            values[name] = parameter.default
    return values


def _coerce(template: str, name: str, parameter: Parameter, value: Any) -> Any:
    kind = parameter.type
    try:
        if kind == "string":
            coerced: Any = value if isinstance(value, str) else str(value)
        elif kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            coerced = int(value)
        elif kind == "number":
            if isinstance(value, bool):
                raise ValueError
            coerced = float(value)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError
            coerced = value
        else:
            # A comma-separated string is the natural way to give a list on the command line.
            coerced = (
                [part.strip() for part in value.split(",") if part.strip()]
                if isinstance(value, str)
                else value
            )
            if not isinstance(coerced, list):
                raise ValueError
    except (TypeError, ValueError):
        raise InputError(
            f"template {template!r}: parameter {name!r} must be a {kind}, got {value!r}"
        ) from None
    if parameter.choices is not None:
        chosen = coerced if isinstance(coerced, list) else [coerced]
        for choice in chosen:
            if choice not in parameter.choices:
                options = ", ".join(map(str, parameter.choices))
                raise InputError(
                    f"template {template!r}: parameter {name!r} is one of {options}; got {choice!r}"
                )
    return coerced
