"""The OpenAPI document and the served routes describe each other exactly."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.routing import Route

from parallelai.server.http.endpoint import Endpoint
from tests.server._support import DEADLINE_S, Harness

pytestmark = pytest.mark.anyio


async def _document(daemon: Harness) -> dict[str, Any]:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.get("/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _served(daemon: Harness) -> set[tuple[str, str]]:
    pairs = set()
    for route in daemon.app.routes:
        assert isinstance(route, Route)
        if route.path.startswith("/v1/"):
            pairs |= {(method.lower(), route.path) for method in route.methods or () if method != "HEAD"}
    return pairs


async def test_every_served_v1_route_is_documented_and_every_documented_one_is_served(
    daemon: Harness,
) -> None:
    document = await _document(daemon)
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert documented == _served(daemon)


async def test_bodies_queries_and_answers_are_the_endpoint_models(daemon: Harness) -> None:
    document = await _document(daemon)
    schemas = document["components"]["schemas"]
    endpoints: list[Endpoint] = daemon.app.state.endpoints
    for endpoint in endpoints:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["operationId"] == endpoint.operation_id
        if endpoint.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{endpoint.body.__name__}"
            assert set(schemas[endpoint.body.__name__]["properties"]) == set(endpoint.body.model_fields)
        if endpoint.query is not None:
            names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert names == set(endpoint.query.model_fields)
        answer = operation["responses"][str(endpoint.status)]
        if endpoint.stream:
            assert "text/event-stream" in answer["content"]
        elif endpoint.response is not None:
            assert "application/json" in answer["content"]
        path_params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert path_params == {part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")}


async def test_every_schema_reference_resolves(daemon: Harness) -> None:
    document = await _document(daemon)
    schemas = document["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in refs(value)]
        return []

    for ref in refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas
