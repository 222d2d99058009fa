"""While a run is active the collector is tuned, and put back exactly as it was afterwards."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from parallelai.orchestration import _gc
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, run_spec, run_to_end


@pytest.fixture(autouse=True)
def default_gc() -> Iterator[None]:
    """Every test starts from the interpreter's defaults and leaves them behind."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(_gc.DEFAULT_GEN0_THRESHOLD, *threshold[1:])
    gc.enable()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    if not enabled:
        gc.disable()


def test_a_run_raises_the_young_threshold_and_freezes_what_is_alive_then_restores_both() -> None:
    before = gc.get_threshold()
    with _gc.active_run():
        assert gc.get_threshold() == (_gc.RUN_GEN0_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_overlapping_runs_restore_the_settings_only_when_the_last_one_ends() -> None:
    before = gc.get_threshold()
    first, second = _gc.active_run(), _gc.active_run()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == _gc.RUN_GEN0_THRESHOLD
    assert gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_program_that_tuned_or_froze_its_collector_keeps_its_choice() -> None:
    gc.set_threshold(5000, 20, 20)
    gc.freeze()
    frozen = gc.get_freeze_count()
    with _gc.active_run():
        assert gc.get_threshold() == (5000, 20, 20)
        assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == (5000, 20, 20)
    assert gc.get_freeze_count() == frozen


def test_nothing_changes_when_the_collector_is_disabled() -> None:
    gc.disable()
    before = gc.get_threshold()
    with _gc.active_run():
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
    assert not gc.isenabled()


@pytest.mark.anyio
async def test_a_whole_run_leaves_the_collector_as_it_found_it(service: OrchestrationService) -> None:
    before = gc.get_threshold()

    summary, _ = await run_to_end(service, run_spec([echo_task(f"t{i}") for i in range(3)]))

    assert summary.counts
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
