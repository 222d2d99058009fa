"""The event bus: events from the store, in seq order, to many subscribers, each behind its own
bounded buffer.

`publish` is synchronous and never waits: it queues the event for the store. An event reaches
subscribers once it is committed and numbered (a subscriber never sees a seq a crash could take
back), together with what other processes committed to the same store meanwhile, in order: the
bus delivers this process's events as their commits report them, reads the events of other
processes from the store to fill the gaps between them, and polls for them while it has nothing
of its own to deliver. So a run executed by any process is seen live by every subscriber.

A subscriber whose buffer is full is cut off rather than allowed to stall the scheduler;
`stream()` then catches up from the store and carries on, so a slow consumer loses time, never
events.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from types import TracebackType

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from parallelai.events import Event
from parallelai.orchestration.store import Store

DEFAULT_BUFFER = 10_000
# How often the store is asked for other processes' events while this one commits none.
FOREIGN_POLL_S = 0.2
CATCH_UP_ROWS = 2000  # read from the store at a time
# A replay page, and the most live events handed on together: one client's share of memory and
# of one socket write.
REPLAY_ROWS = 500
LIVE_BATCH = 100


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

    async def batches(self, most: int) -> AsyncGenerator[list[Event], None]:
        """The events as they come, each time with whatever else is already waiting (up to `most`)."""
        while True:
            try:
                batch = [await self._receive.receive()]
            except anyio.EndOfStream:
                return
            while len(batch) < most:
                try:
                    batch.append(self._receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            yield batch

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
        self._receive.close()


class EventBus:
    def __init__(self, store: Store, last_seq: int) -> None:
        self._store = store
        self._delivered = last_seq  # every event up to here was offered (or nobody wanted it)
        self._subscribers: list[Subscription] = []
        self._generation = 0  # changes whenever someone subscribes
        self._committed: list[Event] = []  # ours, numbered, not yet delivered
        self._committed_upto = last_seq  # the newest seq our commits gave
        self._wake = anyio.Event()
        store.on_commit(self._on_commit)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def held_events(self) -> int:
        """Committed events this bus still holds for delivery (0 once it caught up)."""
        return len(self._committed)

    @property
    def last_seq(self) -> int:
        """The newest seq delivered: a follower that starts after it misses nothing from now on."""
        return self._delivered

    def publish(self, event: Event) -> Event:
        self._store.append_event(event)
        return event

    def subscribe(self, run_id: str | None = None, buffer: int = DEFAULT_BUFFER) -> Subscription:
        subscription = Subscription(self, run_id, buffer)
        self._subscribers.append(subscription)
        self._store.keep_events = True
        self._generation += 1
        self._wake.set()  # from now on, other processes' events are wanted too
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
            self._store.keep_events = bool(self._subscribers)

    def _on_commit(self, newest: int, events: list[Event]) -> None:
        self._committed.extend(events)
        self._committed_upto = max(self._committed_upto, newest)
        self._wake.set()

    async def deliver(self) -> None:
        """Deliver events for as long as the service runs (it starts this in its task group)."""
        while True:
            if not self._committed and self._committed_upto <= self._delivered:
                with anyio.move_on_after(FOREIGN_POLL_S if self._subscribers else math.inf):
                    await self._wake.wait()
                self._wake = anyio.Event()
            ours, self._committed = self._committed, []
            if not self._subscribers:
                # Nobody to tell; a subscriber that comes later replays from the store.
                self._delivered = max(self._delivered, self._committed_upto)
                continue
            for event in ours:
                if event.seq > self._delivered + 1:
                    await self._catch_up(event.seq - 1)  # another process committed in between
                if event.seq > self._delivered:
                    self._offer(event)
            if self._committed_upto > self._delivered:
                await self._catch_up(self._committed_upto)  # ours, committed before anyone subscribed
            elif not ours:
                await self._catch_up(math.inf)  # nothing of our own for a while: other processes'

    async def _catch_up(self, until: float) -> None:
        """Deliver what other processes stored after the last delivered event, up to `until`."""
        while True:
            generation = self._generation
            complete, events = await self._store.new_events(
                self._delivered, self._wanted_runs(), CATCH_UP_ROWS
            )
            if generation != self._generation:
                continue  # someone subscribed meanwhile and may want more of this range: ask again
            for event in events:
                if event.seq > until:
                    break
                if event.seq > self._delivered:
                    self._offer(event)
            reached = int(min(complete, until))
            self._delivered = max(self._delivered, reached)
            if reached >= until or len(events) < CATCH_UP_ROWS:
                return

    def _wanted_runs(self) -> set[str] | None:
        """The runs some subscriber follows, or None when one follows every run."""
        runs: set[str] = set()
        for subscriber in self._subscribers:
            if subscriber.run_id is None:
                return None
            runs.add(subscriber.run_id)
        return runs

    def _offer(self, event: Event) -> None:
        self._delivered = event.seq
        if self._subscribers:  # a copy, since an overflowing subscriber unsubscribes itself
            for subscriber in tuple(self._subscribers):
                subscriber.offer(event)

    async def stream(
        self, after_seq: int = 0, run_id: str | None = None, buffer: int = DEFAULT_BUFFER
    ) -> AsyncGenerator[Event, None]:
        """Every event with `seq > after_seq` (for one run, or all), replayed then live, in order."""
        async with aclosing(self.stream_batches(after_seq, run_id, buffer)) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def stream_batches(
        self, after_seq: int = 0, run_id: str | None = None, buffer: int = DEFAULT_BUFFER
    ) -> AsyncGenerator[list[Event], None]:
        """`stream` a list at a time: a replay page, or the live events that were waiting
        together, so a consumer can send each list as one write and wait between them."""
        last = after_seq
        while True:
            with self.subscribe(run_id, buffer) as live:
                # Subscribe first, then make the store hold everything published before that:
                # the replay and the live feed then meet without a gap.
                await self._store.flush()
                while True:
                    replay = await self._store.events_after(last, run_id, REPLAY_ROWS)
                    if not replay:
                        break
                    last = replay[-1].seq
                    yield replay
                async with aclosing(live.batches(LIVE_BATCH)) as batches:
                    async for batch in batches:
                        fresh = [event for event in batch if event.seq > last]
                        if fresh:
                            last = fresh[-1].seq
                            yield fresh
                if not live.lagged:
                    return

    def close(self) -> None:
        """End every subscription (their iterators finish); used when the service shuts down."""
        for subscriber in tuple(self._subscribers):
            subscriber.close()
