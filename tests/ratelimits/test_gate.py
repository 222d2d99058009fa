"""The rate gate on a clock of its own: what holds an admission, what lets it go, and what it shows.

The gate sleeps until its clock says a request may go, or until it changes (a response observed);
these tests move the clock and then report a response, so nothing here waits on real time.
"""

from __future__ import annotations

import anyio
import pytest
from anyio.lowlevel import checkpoint

from parallelai.ratelimits import RateGate, Ticket, account_for
from tests.support.polling import until

pytestmark = pytest.mark.anyio
ACCOUNT = account_for("openai", "https://api.example.test/v1", "sk-test")
DEADLINE_S = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settled() -> None:
    """Let every woken waiter run up to its next wait (a handful of loop turns)."""
    for _ in range(10):
        await checkpoint()


class Waiter:
    """One request waiting on the gate in the background, and the ticket it got."""

    def __init__(self, gate: RateGate, tokens: float = 0) -> None:
        self.gate, self.tokens = gate, tokens
        self.ticket: Ticket | None = None
        self.admitted = anyio.Event()

    async def __call__(self) -> None:
        self.ticket = await self.gate.acquire(self.tokens)
        self.admitted.set()


async def test_a_429_holds_every_admission_until_its_retry_after() -> None:
    clock = Clock()
    gate = RateGate(ACCOUNT, seed={"requests": 6000}, clock=clock, wall=clock)
    gate.observe({"retry-after": "30"}, 429)
    waiter = Waiter(gate)

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await until(lambda: gate.state().waiting == 1, DEADLINE_S)
        clock.now += 29.9
        gate.observe({}, 200)  # another response: the waiter looks again, and is still held
        await settled()
        assert not waiter.admitted.is_set()

        clock.now += 0.1
        gate.observe({}, 200)
        with anyio.fail_after(DEADLINE_S):
            await waiter.admitted.wait()

    assert gate.state().refused == 1


async def test_a_fresh_account_sends_one_request_and_holds_the_rest_until_its_headers_arrive() -> None:
    gate = RateGate(ACCOUNT)
    probe = await gate.acquire()
    waiter = Waiter(gate)

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await until(lambda: gate.state().waiting == 1, DEADLINE_S)
        await settled()
        assert not waiter.admitted.is_set()

        gate.observe({"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5999"}, 200)
        with anyio.fail_after(DEADLINE_S):
            await waiter.admitted.wait()

    assert probe.probe
    assert waiter.ticket is not None
    assert not waiter.ticket.probe
    assert gate.state().limits == {"requests": 6000}


async def test_a_probe_that_failed_before_its_headers_hands_the_probing_on() -> None:
    gate = RateGate(ACCOUNT)
    probe = await gate.acquire()
    waiter = Waiter(gate)

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await until(lambda: gate.state().waiting == 1, DEADLINE_S)
        gate.release(probe)  # a transport error: no response to learn from
        with anyio.fail_after(DEADLINE_S):
            await waiter.admitted.wait()

    assert waiter.ticket is not None
    assert waiter.ticket.probe


async def test_an_account_without_published_limits_is_never_waited_on_after_its_first_response() -> None:
    gate = RateGate(ACCOUNT)
    async with gate.admit() as first:
        gate.observe({"content-type": "application/json"}, 200)

    with anyio.fail_after(DEADLINE_S):
        tickets = [await gate.acquire() for _ in range(1000)]

    assert first.probe
    assert not any(ticket.probe for ticket in tickets)


async def test_requests_are_smoothed_to_the_refill_rate_instead_of_one_burst() -> None:
    clock = Clock()
    # 120 a minute is 2 a second; half a second's burst lets one go at once.
    gate = RateGate(ACCOUNT, seed={"requests": 120}, utilisation=1.0, clock=clock, wall=clock)
    await gate.acquire()
    waiter = Waiter(gate)

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await until(lambda: gate.state().waiting == 1, DEADLINE_S)
        clock.now += 0.49
        gate.observe({}, 200)
        await settled()
        assert not waiter.admitted.is_set()

        clock.now += 0.01
        gate.observe({}, 200)
        with anyio.fail_after(DEADLINE_S):
            await waiter.admitted.wait()


async def test_the_provider_s_remaining_count_holds_requests_back_when_it_is_lower_than_ours() -> None:
    clock = Clock()
    gate = RateGate(ACCOUNT, utilisation=1.0, burst_s=5.0, clock=clock, wall=clock)
    async with gate.admit():
        gate.observe({"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0"}, 200)

    state = gate.state()
    assert state.limits == {"requests": 60}
    assert state.remaining == {"requests": 0}
    assert state.available == {"requests": 0}


async def test_tokens_are_charged_as_estimated_then_settled_with_the_count() -> None:
    clock = Clock()
    gate = RateGate(
        ACCOUNT, seed={"input_tokens": 60_000}, utilisation=1.0, burst_s=1.0, clock=clock, wall=clock
    )

    ticket = await gate.acquire(input_tokens=800)
    assert gate.state().available["input_tokens"] == 200
    ticket.settle(input_tokens=500, output_tokens=40)

    assert gate.state().available["input_tokens"] == 500


async def test_a_retry_after_beyond_the_ceiling_pauses_nobody() -> None:
    gate = RateGate(ACCOUNT, max_pause_s=300)

    gate.observe({"retry-after": "86400"}, 429)
    gate.observe({"retry-after": "inf"}, 429)

    assert gate.state().paused_until is None


async def test_a_refusal_the_engine_knows_is_no_rate_limit_pauses_nobody() -> None:
    gate = RateGate(ACCOUNT)

    gate.observe({"retry-after": "60"}, 429, refused=False)  # a spent budget: no wait helps

    assert gate.state().paused_until is None
    assert gate.state().refused == 0


async def test_the_state_tells_when_the_pause_ends_in_wall_clock_time() -> None:
    clock = Clock()
    gate = RateGate(ACCOUNT, clock=clock, wall=lambda: 5000.0)

    gate.observe({"retry-after-ms": "1500"}, 429)

    assert gate.state().paused_until == pytest.approx(5001.5)
