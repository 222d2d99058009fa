"""Child exits seen through pidfds on Python 3.11, as 3.12 does, instead of one thread per child."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVarTuple

_watcher_chosen = False


def use_pidfd_watcher() -> None:
    """On Python 3.11 with asyncio, learn of child exits through pidfds instead of a thread each.

    3.11's default child watcher starts (and waits for) one thread per child: ~0.1 ms of the
    event loop's time for every process, a fifth of what running a tiny command costs us.
    Python 3.12 watches every child through a pidfd on the loop that started it; this does the
    same on 3.11, once per process, and only where it changes nothing a program chose: the
    default policy with its default watcher, a running asyncio loop and a kernel with pidfds.
    """
    global _watcher_chosen
    if _watcher_chosen or sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # another backend (trio) waits for children its own way
    _watcher_chosen = True
    if sys.version_info < (3, 12):  # for the type checker: these names are deprecated in 3.12
        if type(asyncio.get_event_loop_policy()) is not asyncio.DefaultEventLoopPolicy:
            return  # uvloop and other policies watch children themselves
        if type(asyncio.get_child_watcher()) is not asyncio.ThreadedChildWatcher:
            return  # the program installed a watcher of its own
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError:
            return  # a kernel before 5.3, or a sandbox that forbids the call
        asyncio.set_child_watcher(_PidfdWatcher())


_Args = TypeVarTuple("_Args")

if sys.version_info < (3, 12):

    class _PidfdWatcher(asyncio.AbstractChildWatcher):
        """Waits for each child on the loop that started it, through the child's pidfd.

        Unlike `asyncio.PidfdChildWatcher`, which belongs to the one loop it is attached to, this
        serves whichever loop is running when a child is added (asyncio adds children from the
        loop that spawns them), so it is safe to install for the whole process. As with 3.12's
        watcher, a child still running when its loop closes is reaped by nobody; `run_process`
        never leaves one behind.
        """

        def __init__(self) -> None:
            self._fallback = asyncio.ThreadedChildWatcher()

        def add_child_handler(
            self, pid: int, callback: Callable[[int, int, *_Args], object], *args: *_Args
        ) -> None:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                # Out of descriptors, say: this child is waited for in a thread, as by default.
                self._fallback.add_child_handler(pid, callback, *args)
                return
            loop = asyncio.get_running_loop()
            loop.add_reader(pidfd, self._reap, loop, pidfd, pid, callback, args)

        @staticmethod
        def _reap(
            loop: asyncio.AbstractEventLoop,
            pidfd: int,
            pid: int,
            callback: Callable[..., object],
            args: tuple[Any, ...],
        ) -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                returncode = 255  # reaped by someone else; asyncio's own watchers report 255 too
            else:
                returncode = os.waitstatus_to_exitcode(status)
            callback(pid, returncode, *args)

        def remove_child_handler(self, pid: int) -> bool:
            return False  # asyncio's transports never remove a handler; the pidfd goes at exit

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            return None  # not bound to a loop

        def is_active(self) -> bool:
            return True

        def close(self) -> None:
            return None

        def __enter__(self) -> _PidfdWatcher:
            return self

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            return None
