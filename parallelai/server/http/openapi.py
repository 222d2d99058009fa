"""The OpenAPI document, generated from the same Endpoint table that builds the routes.

Because routes and document come from one list, they cannot drift apart; a test still checks
that every served /v1 route is documented and every documented path is served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from parallelai.server.http.endpoint import Endpoint
from parallelai.server.http.routes_changes import PatchEndpoint
from parallelai.server.http.routes_events import LAST_EVENT_ID_PATTERN
from parallelai.wire import ErrorBody

_PATH_PARAM = re.compile(r"{(\w+)}")
_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "Malformed JSON or header",
    401: "Missing or wrong token",
    403: "Cross-origin request",
    404: "No such run or task",
    409: "Not possible for this run now (another process executes it, or it did not run with isolation)",
    413: "Body too large",
    415: "Body is not JSON",
    421: "Host is not a loopback name",
    422: "Invalid body, query or input",
}
# An event seq, as `routes_events` reads it; blank is the same as no header.
_LAST_EVENT_ID = {"type": "string", "pattern": LAST_EVENT_ID_PATTERN}
# Before OpenAPI 3.2 (`itemSchema`), a stream's `schema` describes each of its events.
_SSE_EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event's seq"},
        "event": {"type": "string", "description": "the event's type, e.g. `task.state`"},
        "data": {"type": "string", "contentMediaType": "application/json", "description": "the event"},
    },
}


def openapi_document(endpoints: Sequence[Endpoint], title: str, version: str) -> dict[str, Any]:
    inputs: list[tuple[tuple[str, str], JsonSchemaMode, TypeAdapter[Any]]] = [
        (("error", "out"), "serialization", TypeAdapter(ErrorBody))
    ]
    for endpoint in endpoints:
        if endpoint.body is not None:
            inputs.append(((endpoint.operation_id, "body"), "validation", TypeAdapter(endpoint.body)))
        if endpoint.query is not None:
            inputs.append(((endpoint.operation_id, "query"), "validation", TypeAdapter(endpoint.query)))
        if endpoint.response is not None:
            inputs.append(((endpoint.operation_id, "out"), "serialization", TypeAdapter(endpoint.response)))
    schemas, definitions = TypeAdapter.json_schemas(inputs, ref_template=_REF)
    components = definitions.get("$defs", {})

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(
            endpoint, schemas, components
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(
    endpoint: Endpoint, schemas: dict[tuple[Any, JsonSchemaMode], Any], components: dict[str, Any]
) -> dict[str, Any]:
    key = endpoint.operation_id
    operation: dict[str, Any] = {"operationId": key, "summary": endpoint.summary}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        query = _resolve(schemas[((key, "query"), "validation")], components)
        required = set(query.get("required", []))
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": schema}
            for name, schema in query.get("properties", {}).items()
        ]
    if endpoint.stream:
        parameters.append(
            {"name": "Last-Event-ID", "in": "header", "required": False, "schema": _LAST_EVENT_ID}
        )
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[((key, "body"), "validation")]}},
        }
    operation["responses"] = {str(endpoint.status): _success(endpoint, schemas)}
    error_schema = schemas[(("error", "out"), "serialization")]
    inputs = (413, 415, 422) if endpoint.body else (422,) if endpoint.query else ()
    for status in sorted({400, 401, 403, 421, *endpoint.errors, *inputs}):
        operation["responses"][str(status)] = {
            "description": _ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": error_schema}},
        }
    return operation


def _success(endpoint: Endpoint, schemas: dict[tuple[Any, JsonSchemaMode], Any]) -> dict[str, Any]:
    if endpoint.stream:
        return {
            "description": "Server-sent events: `id` is the event seq, `event` its type, `data` the event JSON",
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        }
    if isinstance(endpoint, PatchEndpoint):
        media_type = endpoint.media_type.split(";", 1)[0]
        return {
            "description": "A patch, bytes as they are",
            "content": {media_type: {"schema": {"type": "string"}}},
        }
    if endpoint.response is None:
        return {"description": "OK"}
    schema = schemas[((endpoint.operation_id, "out"), "serialization")]
    success: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    if endpoint.headers:
        success["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "integer", "minimum": 0}}
            for name, text in endpoint.headers
        }
    return success


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: dict[str, Any] = components[ref.rsplit("/", 1)[-1]]
        return resolved
    return schema
