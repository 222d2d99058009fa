"""`DaemonClient`: the HTTP client other surfaces (CLI `--daemon`, MCP, LSP) use to reach the daemon.

It finds the daemon through the discovery file, can start one when none runs, turns error
bodies back into the ParallelAIError tree, and follows event streams across reconnects and
daemon restarts with `Last-Event-ID`, so a follower misses nothing and sees nothing twice.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx
from pydantic import TypeAdapter, ValidationError

from parallelai.client.discovery import DaemonInfo, read_discovery
from parallelai.client.errors import DaemonError
from parallelai.client.launcher import DEFAULT_HOST, start_detached
from parallelai.client.sse import sse_messages
from parallelai.errors import InputError, RunNotFoundError, TaskNotFoundError
from parallelai.events import Event, event_from_json
from parallelai.models import RunState
from parallelai.wire import (
    TASKS_CURSOR_HEADER,
    CancelTaskResult,
    CreateRun,
    DashboardLink,
    EngineOut,
    ErrorBody,
    Health,
    RateGateOut,
    RetryRun,
    RunChangesOut,
    RunCreated,
    RunFindings,
    RunOut,
    RunRetried,
    TaskDetail,
    TaskOut,
    TemplateOut,
)

T = TypeVar("T")
RECONNECT_DELAY_S = 0.2
RECONNECT_DELAY_CAP_S = 5.0
# Refusals the in-process service words as InputError too (`parallelai diff` exits 2 on them).
_INPUT_ERRORS = frozenset({"not_isolated", "no_branch", "change_not_found"})


@dataclass(frozen=True, slots=True)
class TaskPage:
    """Tasks of a run as `task_page` read them, and the run's change counter at that read: pass it
    as `changed_after` to read only what changed since."""

    tasks: list[TaskOut]
    cursor: int


class DaemonClient:
    def __init__(self, info: DaemonInfo, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.info = info
        self._transport = transport
        self._http = self._open(info)

    def _open(self, info: DaemonInfo) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=info.url,
            headers={"Authorization": f"Bearer {info.token}"},
            timeout=httpx.Timeout(30.0, read=None),  # event streams wait for as long as a run lasts
            transport=self._transport,
        )

    @classmethod
    async def connect(cls, *, start: bool = False, host: str = DEFAULT_HOST, port: int = 0) -> DaemonClient:
        """A client for the running daemon; with `start`, launch one (detached) when none runs."""
        info = read_discovery()
        if info is None:
            if not start:
                raise DaemonError("no daemon is running; start one with `parallelai serve --detach`")
            info = await start_detached(host, port)
        return cls(info)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> DaemonClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the API -------------------------------------------------------------------------

    async def health(self) -> Health:
        return await self._call("GET", "/v1/health", Health)

    async def create_run(self, request: CreateRun | dict[str, Any]) -> RunCreated:
        # A plain mapping goes as it is: the daemon validates it and answers 422 (InputError here).
        body = (
            request.model_dump(mode="json", exclude_unset=True) if isinstance(request, CreateRun) else request
        )
        return await self._call("POST", "/v1/runs", RunCreated, json=body)

    async def list_runs(
        self, state: RunState | None = None, limit: int = 50, offset: int = 0
    ) -> list[RunOut]:
        """The newest runs, after the `offset` newest (a page)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset} | (
            {"state": state.value} if state else {}
        )
        return await self._call("GET", "/v1/runs", list[RunOut], params=params)

    async def run(self, run_id: str) -> RunOut:
        return await self._call("GET", f"/v1/runs/{run_id}", RunOut, run_id=run_id)

    async def cancel(self, run_id: str) -> RunOut:
        return await self._call("POST", f"/v1/runs/{run_id}/cancel", RunOut, run_id=run_id)

    async def resume(self, run_id: str) -> RunOut:
        return await self._call("POST", f"/v1/runs/{run_id}/resume", RunOut, run_id=run_id)

    async def retry(self, run_id: str, task_ids: Sequence[str] = ()) -> RunRetried:
        body = RetryRun(tasks=list(task_ids)).model_dump(mode="json")
        return await self._call("POST", f"/v1/runs/{run_id}/retry", RunRetried, json=body, run_id=run_id)

    async def tasks(self, run_id: str) -> list[TaskOut]:
        return await self._call("GET", f"/v1/runs/{run_id}/tasks", list[TaskOut], run_id=run_id)

    async def task_page(
        self, run_id: str, *, changed_after: int | None = None, limit: int | None = None, offset: int = 0
    ) -> TaskPage:
        """Some of a run's tasks, in plan order: those changed after `changed_after` (the `cursor`
        of an earlier page; all when None), `offset` of them skipped, at most `limit` kept."""
        params: dict[str, str | int] = {"offset": offset}
        if changed_after is not None:
            params["changed_after"] = changed_after
        if limit is not None:
            params["limit"] = limit
        response = await self._send("GET", f"/v1/runs/{run_id}/tasks", params=params, run_id=run_id)
        tasks = TypeAdapter(list[TaskOut]).validate_json(response.content)
        return TaskPage(tasks, int(response.headers[TASKS_CURSOR_HEADER]))

    async def task(self, run_id: str, task_id: str) -> TaskDetail:
        path = f"/v1/runs/{run_id}/tasks/{task_id}"
        return await self._call("GET", path, TaskDetail, run_id=run_id, task_id=task_id)

    async def cancel_task(self, run_id: str, task_id: str) -> CancelTaskResult:
        path = f"/v1/runs/{run_id}/tasks/{task_id}/cancel"
        return await self._call("POST", path, CancelTaskResult, run_id=run_id, task_id=task_id)

    async def findings(self, run_id: str) -> RunFindings:
        """What the run's review or audit tasks found, aggregated, and the patches they suggest."""
        return await self._call("GET", f"/v1/runs/{run_id}/findings", RunFindings, run_id=run_id)

    async def changes(self, run_id: str) -> RunChangesOut:
        """An isolated run's branch, base and each task's diffstat (InputError for a run without isolation)."""
        return await self._call("GET", f"/v1/runs/{run_id}/changes", RunChangesOut, run_id=run_id)

    async def run_diff(self, run_id: str) -> bytes:
        """An isolated run's integration branch against its base, as one patch (bytes as they are)."""
        return await self._patch(f"/v1/runs/{run_id}/diff", run_id=run_id)

    async def task_diff(self, run_id: str, task_id: str) -> bytes:
        """The patch one task of an isolated run made, as captured (InputError if it has none)."""
        return await self._patch(f"/v1/runs/{run_id}/tasks/{task_id}/diff", run_id=run_id, task_id=task_id)

    async def engines(self) -> list[EngineOut]:
        return await self._call("GET", "/v1/engines", list[EngineOut])

    async def rate_gates(self) -> list[RateGateOut]:
        return await self._call("GET", "/v1/rate-gates", list[RateGateOut])

    async def templates(self) -> list[TemplateOut]:
        return await self._call("GET", "/v1/templates", list[TemplateOut])

    async def dashboard_link(self) -> DashboardLink:
        return await self._call("POST", "/v1/dashboard/link", DashboardLink)

    async def events(
        self,
        run_id: str | None = None,
        after: int | None = None,
        *,
        reconnect: bool = True,
        on_lost: Callable[[], None] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Events in seq order; on a dropped connection, reconnect (re-reading the discovery file,
        since a restarted daemon has a new port and token) and resume after the last one seen.
        `on_lost` is called once when the daemon cannot be reached any more (killed, stopped), so
        a follower can say so rather than wait in silence; again after the next outage."""
        path = f"/v1/runs/{run_id}/events" if run_id else "/v1/events"
        last = after
        delay = RECONNECT_DELAY_S
        lost = False
        while True:
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            try:
                async with self._http.stream("GET", path, headers=headers) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise _error(response, {"run_id": run_id})
                    delay = RECONNECT_DELAY_S
                    lost = False
                    async for message in sse_messages(response):
                        event = event_from_json(message.data)
                        last = event.seq
                        yield event
            except httpx.TransportError as error:
                if not reconnect:
                    raise _unreachable(self.info, error) from None
                if isinstance(error, httpx.ConnectError) and not lost:  # nobody listens there any more
                    lost = True
                    if on_lost is not None:
                        on_lost()
            except DaemonError as error:
                # A 401 here means the daemon restarted with a new token: rediscover and go on.
                if not reconnect or error.status != 401:
                    raise
            if not reconnect:
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_CAP_S)
            await self.rediscover()

    # -- plumbing ------------------------------------------------------------------------

    async def rediscover(self) -> bool:
        """Follow the daemon to where its discovery file says it is now (a restarted daemon has a
        new port and token); whether that changed anything."""
        info = read_discovery()
        if info is None or info == self.info:
            return False
        await self._http.aclose()
        self.info, self._http = info, self._open(info)
        return True

    async def _patch(self, path: str, **context: str) -> bytes:
        try:
            response = await self._http.get(path)
        except httpx.TransportError as error:
            raise _unreachable(self.info, error) from None
        if response.status_code >= 400:
            raise _error(response, context)
        return response.content

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[T],
        *,
        json: Any = None,
        params: dict[str, str | int] | None = None,
        **context: str,
    ) -> T:
        response = await self._send(method, path, json=json, params=params, **context)
        adapter: TypeAdapter[T] = TypeAdapter(answer)
        return adapter.validate_json(response.content)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str | int] | None = None,
        **context: str,
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as error:
            raise _unreachable(self.info, error) from None
        if response.status_code >= 400:
            raise _error(response, context)
        return response


def _unreachable(info: DaemonInfo, error: httpx.TransportError) -> DaemonError:
    return DaemonError(f"cannot reach the daemon at {info.url} ({error!r}); `parallelai status` checks it")


def _error(response: httpx.Response, context: dict[str, Any]) -> Exception:
    """The daemon's error body as the exception the in-process service would have raised."""
    try:
        detail = ErrorBody.model_validate_json(response.content).error
    except ValidationError:
        return DaemonError(
            f"the daemon answered {response.status_code}: {response.text[:200]}", response.status_code
        )
    if detail.code == "run_not_found" and "run_id" in context:
        return RunNotFoundError(context["run_id"])
    if detail.code == "task_not_found" and "task_id" in context:
        return TaskNotFoundError(context["run_id"], context["task_id"])
    if detail.status == 422 or detail.code in _INPUT_ERRORS:
        return InputError(detail.message)
    return DaemonError(detail.message, detail.status, detail.code)
