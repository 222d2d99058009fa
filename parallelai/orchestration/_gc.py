"""Garbage-collector settings for the time runs are active in this process.

A run allocates and drops a few dozen small objects per task (events, results, futures, timer
handles). With CPython's default gen-0 threshold of 700 that starts a young collection every few
tasks, and every so often a full collection that walks everything alive, the whole plan included
(a 10,000-task run is a few hundred thousand objects, ~0.1 s a pass). None of that finds garbage:
nearly everything a task allocates is freed by reference counting.

So while at least one run is active (`active_run()`):

- the gen-0 threshold is raised to `RUN_GEN0_THRESHOLD`, and
- what is alive when the first of them starts (its plan, the imports) is moved out of the
  collector's sight with `gc.freeze()`, so the full collections that still happen do not walk it
  again and again.

Both are put back when the last active run ends: the threshold is restored and `gc.unfreeze()`
returns the frozen objects to the oldest generation, where any cycles among them are collected as
usual. Freezing once per busy period, not once per run, bounds what a daemon that is never idle
holds on to: only what was already garbage at that one moment waits for the next idle moment.

Because these are process-wide settings, they are only touched while they are still ours to
touch: nothing changes when the program disabled gc, set its own thresholds, or froze objects
itself (a pre-fork server does that); such a program keeps exactly what it chose.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_GEN0_THRESHOLD = 700  # CPython's default since forever; anything else was set on purpose
RUN_GEN0_THRESHOLD = 20_000

_lock = threading.Lock()  # runs may execute on event loops in several threads
_active = 0
_saved_threshold: tuple[int, ...] | None = None  # set while we raised it
_froze = False  # whether the current frozen set is ours


@contextmanager
def active_run() -> Iterator[None]:
    """Tune the collector for the duration of one run (nesting and concurrent runs are fine)."""
    _enter()
    try:
        yield
    finally:
        _exit()


def _enter() -> None:
    global _active, _saved_threshold, _froze
    with _lock:
        _active += 1
        if _active > 1 or not gc.isenabled():
            return
        threshold = gc.get_threshold()
        if threshold[0] == DEFAULT_GEN0_THRESHOLD:
            _saved_threshold = threshold
            gc.set_threshold(RUN_GEN0_THRESHOLD, *threshold[1:])
        if gc.get_freeze_count() == 0:
            gc.freeze()
            _froze = True


def _exit() -> None:
    global _active, _saved_threshold, _froze
    with _lock:
        _active -= 1
        if _active:
            return
        if _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)
            _saved_threshold = None
        if _froze:
            gc.unfreeze()
            _froze = False
