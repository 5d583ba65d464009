"""Faust's aiokafka transport with two corrections deskroute depends on.

1. Faust passes ``fetch_max_wait_ms=1500`` to its consumer unconditionally. A
   broker that holds a fetch until that wait expires (the embedded one does, even
   with data ready) then adds up to 1.5 s per stage. The consumer is built
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
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import topics

#: Topics the stages consume (changelogs are positioned by table recovery).
CONSUMED = frozenset({*topics.INBOUND.values(), topics.ROUTED, topics.AGENT_EVENTS})


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.deskroute_settings.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer

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
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Producer(faust_aiokafka.Producer):
    async def flush(self) -> None:
        # Every message buffered when the flush began resolves its future once the
        # broker acknowledged it; messages buffered later are the next commit's.
        waiting = list(getattr(self.buffer.pending, "_queue", ()))
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        await super().flush()


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer
