"""Faust's aiokafka transport with two corrections deskroute depends on.

1. Faust passes ``fetch_max_wait_ms=1500`` to its consumer unconditionally. A
   broker that holds a fetch until that wait expires (the embedded one does, even
   with data ready) then adds up to 1.5 s per stage. The consumer is built
   unstarted, so the value is replaced before its fetcher reads it.
2. Before committing offsets Faust flushes the producer, but its buffer of table
   writes gives up after 0.1 s without progress, so under load offsets were
   committed ahead of the changelog rows of the events they cover, and a crash
   then lost those events' state for good. The flush here waits until the buffer
   is really empty.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.deskroute_settings.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Producer(faust_aiokafka.Producer):
    async def flush(self) -> None:
        while self.buffer.size:
            await self.buffer.flush()
        await super().flush()


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer
