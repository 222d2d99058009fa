"""A run as LSP work-done progress: begin, a report each time more tasks are done, end with the final state."""

from __future__ import annotations

import logging

from lsprotocol.types import ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport
from pygls.progress import Progress

from parallelai.events import Event, RunCreated, RunFinished, TaskStateChanged

log = logging.getLogger("parallelai.lsp")


class RunProgress:
    """Turns a run's events into `$/progress` notifications on one token.

    Only increases of "tasks done" are reported: a replayed history can briefly step back (a task
    seen final is replayed from `running`), and a progress bar that goes backwards is a bug to users.
    """

    def __init__(
        self, progress: Progress, token: ProgressToken, title: str, total: int, *, create: bool = True
    ) -> None:
        self.token = token
        self._create = create
        self._progress = progress
        self._title = title
        self._total = total
        self._final: set[str] = set()
        self._reported = -1
        self._begun = False
        self.ended = False

    async def open(self) -> None:
        """Ask the client for the token (unless it gave it), then begin; a client that refuses gets none."""
        if self._create:
            self._create = False
            try:
                await self._progress.create_async(self.token)
            except Exception as error:  # the client's answer, whatever it is, must not stop the follower
                log.info("no progress for %s: the client refused the token (%s)", self.token, error)
                self.ended = True
                return
        self.begin()

    def begin(self) -> None:
        if self._begun:
            return
        self._begun = True
        self._progress.begin(
            self.token,
            WorkDoneProgressBegin(
                title=self._title, message=self._message(0), percentage=0, cancellable=True
            ),
        )
        self._reported = 0

    def update(self, event: Event) -> None:
        if self.ended:
            return
        self.begin()
        if isinstance(event, RunCreated):
            self._total = event.task_count
        elif isinstance(event, TaskStateChanged):
            if event.state.is_final:
                self._final.add(event.task_id)
            else:
                self._final.discard(event.task_id)
            self._report()
        elif isinstance(event, RunFinished):
            self.end(str(event.state))

    def end(self, message: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self._begun:  # a progress that never began (the client is still creating it) just stops
            self._progress.end(self.token, WorkDoneProgressEnd(message=message))
        self._progress.tokens.pop(self.token, None)  # pygls keeps every token otherwise

    def _report(self) -> None:
        done = len(self._final)
        if done <= self._reported:
            return
        self._reported = done
        percentage = 100 * done // self._total if self._total else 100
        self._progress.report(
            self.token, WorkDoneProgressReport(message=self._message(done), percentage=min(percentage, 100))
        )

    def _message(self, done: int) -> str:
        return f"done {done}/{self._total}"
