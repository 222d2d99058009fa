"""The event bus: one publisher, many subscribers, each behind its own bounded buffer.

`publish` is synchronous and never waits: it numbers the event, queues it for the store and
offers it to every subscriber. A subscriber whose buffer is full is cut off rather than
allowed to stall the scheduler; `stream()` then catches up from the store and carries on, so
a slow consumer loses time, never events.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from parallelai.events import Event
from parallelai.orchestration.store import Store

DEFAULT_BUFFER = 10_000


class Subscription:
    """Live events from the moment of subscribing; `lagged` is set if the buffer overflowed."""

    def __init__(self, bus: EventBus, run_id: str | None, buffer: int) -> None:
        self._bus = bus
        self.run_id = run_id
        self._send: MemoryObjectSendStream[Event]
        self._receive: MemoryObjectReceiveStream[Event]
        self._send, self._receive = anyio.create_memory_object_stream[Event](buffer)
        self.lagged = False

    def offer(self, event: Event) -> None:
        if self.run_id is not None and event.run_id != self.run_id:
            return
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.lagged = True
            self.close()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.close()

    def close(self) -> None:
        self._bus._unsubscribe(self)
        self._send.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._receive.__aiter__()

    async def receive(self) -> Event:
        return await self._receive.receive()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
        self._receive.close()


class EventBus:
    def __init__(self, store: Store, last_seq: int) -> None:
        self._store = store
        self._seq = last_seq
        self._subscribers: list[Subscription] = []

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, event: Event) -> Event:
        self._seq += 1
        event.seq = self._seq
        self._store.append_event(event)
        if self._subscribers:  # a copy, since an overflowing subscriber unsubscribes itself
            for subscriber in tuple(self._subscribers):
                subscriber.offer(event)
        return event

    def subscribe(self, run_id: str | None = None, buffer: int = DEFAULT_BUFFER) -> Subscription:
        subscription = Subscription(self, run_id, buffer)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    async def stream(
        self, after_seq: int = 0, run_id: str | None = None, buffer: int = DEFAULT_BUFFER
    ) -> AsyncGenerator[Event, None]:
        """Every event with `seq > after_seq` (for one run, or all), replayed then live, in order."""
        last = after_seq
        while True:
            with self.subscribe(run_id, buffer) as live:
                # Subscribe first, then make the store hold everything published before that:
                # the replay and the live feed then meet without a gap.
                await self._store.flush()
                while True:
                    replay = await self._store.events_after(last, run_id)
                    if not replay:
                        break
                    for event in replay:
                        last = event.seq
                        yield event
                async for event in live:
                    if event.seq <= last:
                        continue
                    last = event.seq
                    yield event
                if not live.lagged:
                    return

    def close(self) -> None:
        """End every subscription (their iterators finish); used when the service shuts down."""
        for subscriber in tuple(self._subscribers):
            subscriber.close()
