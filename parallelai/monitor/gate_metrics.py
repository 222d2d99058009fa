"""The rate gates' state as Prometheus series, read when `/metrics` is scraped (docs/rate-limits.md).

A collector rather than gauges kept up to date: a gate changes with every request, and its state is
only worth reading when someone asks. It must be collected in the daemon's event loop, where the
gates live (the `/metrics` handler is).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parallelai.ratelimits import gate_states

_ACCOUNT = ["provider", "endpoint", "key"]


class RateGateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        limit = GaugeMetricFamily(
            "parallelai_rate_gate_limit_per_minute",
            "A provider account's limit, as learnt from its headers or given in settings",
            labels=[*_ACCOUNT, "dimension"],
        )
        available = GaugeMetricFamily(
            "parallelai_rate_gate_available",
            "What the gate would let go right now, per dimension",
            labels=[*_ACCOUNT, "dimension"],
        )
        paused = GaugeMetricFamily(
            "parallelai_rate_gate_paused_seconds",
            "Seconds the account stays paused by a 429's retry-after (0: not paused)",
            labels=_ACCOUNT,
        )
        waiting = GaugeMetricFamily(
            "parallelai_rate_gate_waiting", "Requests and launches waiting at the gate", labels=_ACCOUNT
        )
        sent = CounterMetricFamily(
            "parallelai_rate_gate_admitted", "Requests the gate let go", labels=_ACCOUNT
        )
        refused = CounterMetricFamily(
            "parallelai_rate_gate_refused", "429s the provider answered", labels=_ACCOUNT
        )
        now = time.time()
        try:
            states = gate_states()
        except RuntimeError:  # read outside an event loop (a test's render): no gates live there
            states = []
        for state in states:
            account = [state.account.provider, state.account.endpoint, state.account.key_id]
            for dimension, value in state.limits.items():
                limit.add_metric([*account, dimension], value)
            for dimension, value in state.available.items():
                available.add_metric([*account, dimension], value)
            paused.add_metric(account, max(0.0, (state.paused_until or now) - now))
            waiting.add_metric(account, state.waiting)
            sent.add_metric(account, state.admitted)
            refused.add_metric(account, state.refused)
        yield from (limit, available, paused, waiting, sent, refused)
