"""The token bucket: refill, smoothing, debt for oversized costs, and what a provider's count corrects."""

from __future__ import annotations

import pytest

from parallelai.ratelimits.bucket import TokenBucket


def test_a_full_bucket_lets_its_capacity_go_at_once_then_paces_at_its_rate() -> None:
    bucket = TokenBucket.full(rate=10.0, capacity=5.0, now=0.0)

    for _ in range(5):
        assert bucket.wait(1, now=0.0) == 0
        bucket.take(1, now=0.0)

    assert bucket.wait(1, now=0.0) == pytest.approx(0.1)
    assert bucket.wait(1, now=0.1) == pytest.approx(0.0)


def test_a_bucket_refills_no_higher_than_its_capacity() -> None:
    bucket = TokenBucket.full(rate=10.0, capacity=5.0, now=0.0)
    bucket.take(5, now=0.0)

    assert bucket.level_at(100.0) == 5.0


def test_a_cost_above_the_capacity_waits_for_a_full_bucket_and_leaves_a_debt() -> None:
    bucket = TokenBucket.full(rate=100.0, capacity=50.0, now=0.0)
    bucket.take(30, now=0.0)

    assert bucket.wait(500, now=0.0) == pytest.approx(0.3)  # 30 to refill, then it may go
    bucket.take(500, now=0.3)
    assert bucket.level_at(0.3) == -450
    assert bucket.wait(1, now=0.3) == pytest.approx(4.51)


def test_the_provider_s_lower_count_wins_over_ours_and_a_higher_one_does_not() -> None:
    bucket = TokenBucket.full(rate=1.0, capacity=10.0, now=0.0)

    bucket.cap_at(3, now=0.0)
    assert bucket.level_at(0.0) == 3
    bucket.cap_at(8, now=0.0)
    assert bucket.level_at(0.0) == 3


def test_an_estimate_settled_lower_is_given_back() -> None:
    bucket = TokenBucket.full(rate=1.0, capacity=1000.0, now=0.0)
    bucket.take(800, now=0.0)

    bucket.give_back(300, now=0.0)

    assert bucket.level_at(0.0) == 500


def test_a_new_limit_keeps_what_is_available_within_the_new_capacity() -> None:
    bucket = TokenBucket.full(rate=10.0, capacity=10.0, now=0.0)

    bucket.retune(rate=2.0, capacity=4.0, now=0.0)

    assert bucket.level_at(0.0) == 4
    bucket.take(4, now=0.0)
    assert bucket.wait(1, now=0.0) == pytest.approx(0.5)
