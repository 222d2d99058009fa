"""A local three-node Ray cluster, started once for the session and stopped with every process it started.

Ray is an optional extra: without it the cluster tests skip (their modules `importorskip("ray")`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parallelai.models import Backend

NODES = 3
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """Three nodes (the head and two workers), one CPU each, no dashboard; the runners' workers can
    import the tests' own engines (tests/backends/engines.py) from this checkout."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from parallelai.backends.ray_engine import disconnect

    # Only while the nodes start: their raylets pass it on to the workers they spawn. Left set, it
    # would leak this checkout into every later test's child processes (a fresh venv's included).
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), previous]))
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        for _ in range(NODES - 1):
            cluster.add_node(num_cpus=1)
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
    try:
        cluster.wait_for_nodes()
        yield cluster
    finally:
        disconnect()
        cluster.shutdown()  # type: ignore[no-untyped-call]  # ray leaves it unannotated


@pytest.fixture
def on_ray(ray_cluster: Any) -> Backend:
    """The ray backend, on the session's cluster."""
    return Backend.model_validate({"ray": {"address": ray_cluster.address}})
