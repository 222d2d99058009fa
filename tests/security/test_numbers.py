"""Numbers in engine settings are finite and bounded: no task parks forever or fills memory."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from parallelai.engines.echo import (
    MAX_LATENCY_S,
    MAX_OUTPUT_SIZE,
    MAX_RETRY_AFTER_S,
    EchoSettings,
)
from parallelai.wire import ErrorBody
from tests.server._support import DEADLINE_S, Harness, parse

pytestmark = pytest.mark.anyio

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"latency": math.inf}, "latency"),
    ({"latency": math.nan}, "latency"),
    ({"latency": "inf"}, "latency"),
    ({"latency": MAX_LATENCY_S + 1}, "latency"),
    ({"retry_after": math.inf}, "retry_after"),
    ({"retry_after": MAX_RETRY_AFTER_S + 1}, "retry_after"),
    ({"output_size": 10**14}, "output_size"),
    ({"output_size": MAX_OUTPUT_SIZE + 1}, "output_size"),
    ({"cost_per_1k_tokens": math.inf}, "cost_per_1k_tokens"),
    ({"fail_attempts": 10**12}, "fail_attempts"),
    ({"rate_limit_per_minute": 10**12}, "rate_limit_per_minute"),
    ({"max_concurrent": 10**12}, "max_concurrent"),
    ({"failure_rate": math.nan}, "failure_rate"),
]


@pytest.mark.parametrize(("settings", "field"), REFUSED, ids=[str(case[0]) for case in REFUSED])
def test_non_finite_and_absurd_echo_settings_are_refused_naming_the_setting(
    settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        EchoSettings.model_validate(settings)
    (problem,) = refused.value.errors()
    assert problem["loc"] == (field,)
    assert problem["msg"]  # pydantic's words: "less than or equal to 3600", "finite number"


def test_the_bounds_themselves_are_accepted() -> None:
    settings = EchoSettings.model_validate(
        {"latency": MAX_LATENCY_S, "retry_after": MAX_RETRY_AFTER_S, "output_size": MAX_OUTPUT_SIZE}
    )
    assert settings.output_size == MAX_OUTPUT_SIZE


async def test_over_http_an_absurd_engine_setting_gets_422_naming_it(daemon: Harness) -> None:
    body = {"prompts": ["x"], "engines": {"echo": {"output_size": 10**14}}}
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json=body)
    error = parse(response, ErrorBody).error
    assert response.status_code == 422, error
    assert "output_size" in error.message
