"""Callers' mistakes get a JSON error body with the right status (400/404/422), never a 500."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from parallelai.wire import ErrorBody, RunCreated
from tests.server._support import DEADLINE_S, Harness, echo_run, parse

pytestmark = pytest.mark.anyio


async def _post(daemon: Harness, path: str, body: bytes) -> tuple[int, ErrorBody]:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post(path, content=body, headers={"Content-Type": "application/json"})
    return response.status_code, parse(response, ErrorBody)


@pytest.mark.parametrize("body", [b"{", b"", b"not json", b"\xff\xfe"])
async def test_malformed_json_gets_400(daemon: Harness, body: bytes) -> None:
    status, error = await _post(daemon, "/v1/runs", body)
    assert (status, error.error.code) == (400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"prompts": ["x"], "promtps": ["typo"]}, "promtps"),
        ({"prompts": ["x"], "limits": {"max_paralel": 3}}, "limits.max_paralel"),
        ({"prompts": ["x"], "limits": {"max_parallel": 0}}, "limits.max_parallel"),
        ({"work": {"strategy": "dag", "tasks": [{"prompt": "x", "bogus": 1}]}}, "work.dag.tasks.0.bogus"),
        ({}, "body"),
        ({"prompts": ["x"], "template": "review"}, "body"),
        ([1, 2], "body"),
    ],
)
async def test_unknown_or_invalid_fields_get_422_naming_the_field(
    daemon: Harness, body: Any, where: str
) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json=body)
    error = parse(response, ErrorBody).error
    assert response.status_code == 422
    assert error.code == "invalid_body"
    assert error.details[0].location == where


async def test_an_unknown_engine_gets_422_with_the_known_names(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json={"prompts": ["x"], "engine": "ecko"})
    error = parse(response, ErrorBody).error
    assert (response.status_code, error.code) == (422, "unknown_engine")
    assert "did you mean 'echo'" in error.message


async def test_an_unknown_template_and_a_cycle_get_422(daemon: Harness) -> None:
    cycle = {
        "strategy": "dag",
        "tasks": [
            {"id": "a", "prompt": "x", "depends_on": ["b"]},
            {"id": "b", "prompt": "y", "depends_on": ["a"]},
        ],
    }
    with anyio.fail_after(DEADLINE_S):
        template = await daemon.http.post("/v1/runs", json={"template": "nope"})
        looped = await daemon.http.post("/v1/runs", json={"work": cycle})
    assert (template.status_code, parse(template, ErrorBody).error.code) == (422, "invalid_input")
    assert (looped.status_code, parse(looped, ErrorBody).error.code) == (422, "invalid_input")
    assert "cycle" in parse(looped, ErrorBody).error.message


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/runs/r-none"),
        ("POST", "/v1/runs/r-none/cancel"),
        ("POST", "/v1/runs/r-none/resume"),
        ("GET", "/v1/runs/r-none/tasks"),
        ("GET", "/v1/runs/r-none/tasks/t001"),
        ("POST", "/v1/runs/r-none/tasks/t001/cancel"),
        ("GET", "/v1/runs/r-none/events"),
    ],
)
async def test_an_unknown_run_gets_404(daemon: Harness, method: str, path: str) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.request(method, path)
    assert response.status_code == 404
    assert parse(response, ErrorBody).error.code == "run_not_found"


async def test_an_unknown_task_of_a_known_run_gets_404(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json=echo_run(1)), RunCreated).id
        got = await daemon.http.get(f"/v1/runs/{run_id}/tasks/nope")
        cancelled = await daemon.http.post(f"/v1/runs/{run_id}/tasks/nope/cancel")
    assert (got.status_code, parse(got, ErrorBody).error.code) == (404, "task_not_found")
    assert (cancelled.status_code, parse(cancelled, ErrorBody).error.code) == (404, "task_not_found")


async def test_bad_query_parameters_and_headers_get_422_and_400(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        bad_state = await daemon.http.get("/v1/runs", params={"state": "sleeping"})
        unknown = await daemon.http.get("/v1/runs", params={"colour": "red"})
        bad_id = await daemon.http.get("/v1/events", headers={"Last-Event-ID": "yesterday"})
    assert bad_state.status_code == 422
    assert unknown.status_code == 422
    assert (bad_id.status_code, parse(bad_id, ErrorBody).error.code) == (400, "bad_last_event_id")


async def test_unknown_paths_and_methods_get_json_404_and_405(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        missing = await daemon.http.get("/v1/nothing-here")
        wrong_method = await daemon.http.delete("/v1/runs")
    assert (missing.status_code, parse(missing, ErrorBody).error.code) == (404, "not_found")
    assert (wrong_method.status_code, parse(wrong_method, ErrorBody).error.code) == (
        405,
        "method_not_allowed",
    )
