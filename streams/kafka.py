"""Faust's aiokafka transport with the corrections deskroute depends on.

1. Faust passes ``fetch_max_wait_ms=1500`` to its consumer unconditionally. A
   fetch that finds no records is held by the broker (the embedded one looks
   again after half the remaining wait, then half of that, and so on), so a
   record arriving meanwhile waits up to 0.75 s per stage. The consumer is built
   unstarted, so the value is replaced before its fetcher reads it.
2. Before committing offsets Faust flushes the producer, but its buffer of table
   writes gives up after 0.1 s without progress, so under load offsets were
   committed ahead of the changelog rows of the events they cover, and a crash
   then lost those events' state for good. The flush here waits for every
   message that was buffered when it began.
3. While partitions are paused (during table recovery) Faust drops the records
   it fetched for them and afterwards seeks back to the committed offsets; a
   partition with no committed offset yet (a worker that died before its first
   commit) was left past the dropped records, which were never processed. Such
   partitions are sought to their beginning instead: at-least-once, and every
   stage is idempotent.
4. Faust's seek to the committed offsets (after every rebalance) moves the fetch
   position first and its record of what was read only afterwards. Records
   fetched in between, from the new position, were dropped as already read, and
   the position then lay past them: after a restart, the inbound records between
   the committed offset and the first fetch were never routed. Here a batch
   fetched while a seek was under way (or before one) is not handed over, and the
   loop seeks to the committed offsets again before fetching on.
5. Faust hands each fetched record to the streams through ``Service.wait_first``
   (two tasks and an ``asyncio.wait`` per record) so that a flow suspended by a
   rebalance interrupts a blocked hand-over. While the flow is not suspended the
   record is handed over directly; that is most of the per-record cost of a stock
   Faust relay.
6. Faust runs the consumer in a thread with an event loop of its own; here it
   runs on the app's loop (:class:`_ConsumerThread`): ``make bench`` went from
   745.9 to 890.5 tickets/s, with no GIL hand-over between fetcher and stages.
7. The broker may hold a fetch at most ``fetch_max_wait_ms``; while it answers
   partitions that have records with none (the embedded broker's listing limit)
   the wait rises (:mod:`streams.fetch_wait`).
8. A record the producer gives up on (the broker out of reach for longer than
   ``DESKROUTE_DELIVERY_TIMEOUT_S``, or an error no retry cures) fails only its
   future, which the stages do not await (or, when the producer's buffer stayed
   full that long, the send itself): the next commit would then cover an event
   whose outputs or state rows never reached the broker. The worker's producer
   watches every send and future; on the first failure it logs it and the process
   exits (:data:`EXIT_UNDELIVERED`) before any further commit, as if killed, so a
   new worker reads those events again from the last commit (every stage is
   idempotent, the assignment stage through its markers).

:func:`direct_producer` gives the stages Faust's own aiokafka producer (same
settings, same flush before every commit) without Faust's per-record send path
(a pending-message object, sensors, a debug log record and one event-loop turn
per record).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, ProducerClosed
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service
from mode.utils.futures import maybe_async

from streams import topics
from streams.fetch_wait import guard
from streams.metrics import FETCH_MAX_WAIT, OUTPUTS_UNDELIVERED, SEEKS_REPEATED

log = logging.getLogger("deskroute.worker")

#: The worker's exit status after a record it produced was not delivered.
EXIT_UNDELIVERED = 70

#: Topics the stages consume (changelogs are positioned by table recovery).
CONSUMED = frozenset({*topics.INBOUND.values(), topics.ROUTED, topics.AGENT_EVENTS})


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The consumer "thread" run on the app's own event loop.

    Faust fetches in a thread with an event loop of its own and hands every call
    (getmany, commit, seek, position) across with a future; the two threads then
    share one GIL. Here the same service runs on the app's loop: calls are plain
    awaits, and the fetcher's work interleaves with the stages' instead of
    contending for the GIL with them. The group's heartbeats now share that loop:
    a stage that held it longer than the session timeout would cost a rebalance,
    which ``deskroute_event_loop_lag_seconds`` would show."""

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        loop = kwargs.pop("loop", None) or consumer.loop
        kwargs.pop("thread_loop", None)
        super().__init__(consumer, loop=loop, thread_loop=loop, **kwargs)

    async def start(self) -> None:
        self._thread_started.set()
        await Service.start(self)

    async def stop(self) -> None:
        if not self._started.is_set() or self._stopped.is_set():
            return
        try:
            await self.on_thread_stop()
        finally:
            self._shutdown.set()
            await Service.stop(self)

    # ServiceThread leaves these to its thread; with no thread they run here.
    _stopped_set = Service._stopped_set
    _stop_children = Service._stop_children
    _stop_futures = Service._stop_futures
    _stop_exit_stacks = Service._stop_exit_stacks

    async def call_thread(self, fun: Any, *args: Any, **kwargs: Any) -> Any:
        return await maybe_async(fun(*args, **kwargs))

    async def cast_thread(self, fun: Any, *args: Any, **kwargs: Any) -> None:
        self.add_future(maybe_async(fun(*args, **kwargs)))

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.deskroute_settings.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        settings = self.app.deskroute_settings  # type: ignore[attr-defined]
        guard(
            self._consumer,
            settings.fetch_max_wait_ceiling_ms,
            "worker",
            on_rise=lambda ms: FETCH_MAX_WAIT.set(ms / 1000),
        )

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed: Mapping[TP, int] = await super().seek_to_committed()
        never = [
            faust_aiokafka.ensure_aiokafka_TP(tp)
            for tp, offset in committed.items()
            if (offset is None or offset < 0) and tp.topic in CONSUMED
        ]
        if never:
            await self.call_thread(self._ensure_consumer().seek_to_beginning, *never)
        return committed


class _Consumer(faust_aiokafka.Consumer):
    #: Seeks to the committed offsets under way, and how many have finished.
    _seeking = 0
    _seeks = 0
    #: A fetched batch was set aside because a seek overlapped it.
    _reseek = False

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_empty(self) -> None:
        # The assignment stage acknowledges its events per batch of changelog writes
        # (streams.state_table): a batch left open would be waited for forever.
        before = getattr(self.app, "deskroute_before_wait_empty", None)
        if before is not None:
            await before()
        await super().wait_empty()

    async def perform_seek(self) -> None:
        self._seeking += 1
        try:
            await super().perform_seek()
        finally:
            self._seeking -= 1
            self._seeks += 1

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover
        """Faust's loop of fetched records into the streams (see point 4 above)."""
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        suspended = self.suspend_flow.is_set
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                if self._reseek and not self._seeking:
                    # Records set aside lie between the committed offsets and the
                    # fetch position: read them again (see point 4 above).
                    self._reseek = False
                    SEEKS_REPEATED.inc()
                    await self.perform_seek()
                seeks = self._seeks
                ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        if self._seeking or self._seeks != seeks:
                            self._reseek = True
                            break
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if suspended():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            else:
                                await callback(message)
                            if self._seeking or self._seeks != seeks:
                                # Handed over across a seek: whatever follows it
                                # in this batch is stale.
                                self._reseek = True
                                break
                            set_read_offset(tp, offset)
                    self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class _Producer(faust_aiokafka.Producer):
    def _new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        producer: AIOKafkaProducer = super()._new_producer(transactional_id)
        send = producer.send
        delivered = self._delivered
        give_up = self._give_up

        async def send_watched(topic: str, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            try:
                future: asyncio.Future[Any] = await send(topic, *args, **kwargs)
            except (MessageSizeTooLargeError, ProducerClosed):
                # Refused before it was taken (too large for any request), or sent
                # after the producer stopped, when no commit can follow any more.
                raise
            except KafkaError as exc:
                # Taken by no one: the buffer stayed full past the delivery timeout.
                give_up(topic, exc)
                raise
            future.add_done_callback(lambda f: delivered(topic, f))
            return future

        producer.send = send_watched
        return producer

    def _delivered(self, topic: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._give_up(topic, error)

    def _give_up(self, topic: str, error: BaseException) -> None:
        """Nothing after this may be committed: leave as a SIGKILL would (a stop under
        way too, so that the local table store is not taken for a clean one), and
        let a new worker read from the last commit (see point 8 above)."""
        OUTPUTS_UNDELIVERED.inc()
        log.error(
            "record not delivered: the worker exits before its next commit",
            extra={"topic": topic, "error": repr(error)[:300]},
        )
        logging.shutdown()
        os._exit(EXIT_UNDELIVERED)

    async def flush(self) -> None:
        # Every message buffered when the flush began resolves its future once the
        # broker acknowledged it; messages buffered later are the next commit's.
        waiting = list(getattr(self.buffer.pending, "_queue", ()))
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        # A future that failed meanwhile exited the process (``_give_up``) before
        # this flush could wake up and let the commit go on.
        await super().flush()


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer


def direct_producer(app: Any) -> AIOKafkaProducer:
    """The started aiokafka producer inside Faust's producer (see the module docstring)."""
    return cast(AIOKafkaProducer, app.producer._ensure_producer())
