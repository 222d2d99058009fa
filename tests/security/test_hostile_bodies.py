"""Whatever bytes a caller sends, the HTTP API answers 400 or 422 with a message, never a 500."""

from __future__ import annotations

import anyio
import pytest

from parallelai.wire import ErrorBody
from tests.server._support import DEADLINE_S, Harness, parse

pytestmark = pytest.mark.anyio

DEEP = 100_000
# (name, body, expected status): each a body someone could post to POST /v1/runs.
HOSTILE: list[tuple[str, bytes, int]] = [
    ("lone high surrogate", b'{"prompts": ["\\ud800"]}', 400),
    ("lone low surrogate", b'{"prompts": ["\\udc00x"]}', 400),
    ("lone surrogate as a key", b'{"\\ud800": 1}', 400),
    ("5,000-digit integer", b'{"prompts": ["x"], "retries": ' + b"9" * 5000 + b"}", 400),
    ("5,000-digit integer alone", b"1" * 5000, 400),
    ("1,000-digit integer", b'{"prompts": ["x"], "parallel": ' + b"9" * 1000 + b"}", 422),
    ("arrays nested 100,000 deep", b"[" * DEEP + b"]" * DEEP, 400),
    ("objects nested 100,000 deep", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400),
    ("prompts nested 300 deep", b'{"prompts": ' + b"[" * 300 + b"]" * 300 + b"}", 400),
    ("invalid UTF-8", b'{"prompts": ["\xff\xfe"]}', 400),
    ("overlong UTF-8", b'{"prompts": ["\xc0\xaf"]}', 400),
    ("UTF-8-encoded surrogate", b'{"prompts": ["\xed\xa0\x80"]}', 400),
    ("UTF-16 body", '{"prompts": ["x"]}'.encode("utf-16"), 400),
    ("NaN", b'{"prompts": ["x"], "max_cost_usd": NaN}', 400),
    ("Infinity", b'{"prompts": ["x"], "max_cost_usd": Infinity}', 400),
    ("a float past its range", b'{"prompts": ["x"], "max_cost_usd": 1e400}', 400),
    ("NUL byte outside a string", b'{"prompts": ["x"]}\x00', 400),
    ("trailing garbage", b'{"prompts": ["x"]} {}', 400),
    ("a bare string", b'"prompts"', 422),
    ("null", b"null", 422),
    ("retries: false", b'{"prompts": ["x"], "retries": false}', 422),
    ("retries: true", b'{"prompts": ["x"], "retries": true}', 422),
    ("retries as a string", b'{"prompts": ["x"], "retries": "2"}', 422),
    ("retries as a fraction", b'{"prompts": ["x"], "retries": 1.5}', 422),
    ("a prompt that is a number", b'{"prompts": [1]}', 422),
    ("an object for the prompts", b'{"prompts": {"a": "b"}}', 422),
]


@pytest.mark.parametrize(
    ("body", "status"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE]
)
async def test_a_hostile_body_gets_a_400_or_422_with_a_message(
    daemon: Harness, body: bytes, status: int
) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post(
            "/v1/runs", content=body, headers={"Content-Type": "application/json"}
        )
    error = parse(response, ErrorBody).error
    assert response.status_code == status, error
    assert error.status == status
    assert error.message
    expected = "malformed_json" if status == 400 else "invalid_body"
    assert error.code == expected


async def test_a_hostile_body_to_retry_gets_400_too(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post(
            "/v1/runs/nope/retry",
            content=b'{"tasks": ["\\ud800"]}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert parse(response, ErrorBody).error.code == "malformed_json"


async def test_trace_gets_405_with_an_allow_header(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.request("TRACE", "/v1/runs")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert parse(response, ErrorBody).error.code == "method_not_allowed"
