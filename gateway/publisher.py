"""Publishing canonical events and dead letters, acknowledged by the broker or not at all.

A gateway may answer 2xx only for records the broker has stored (acks=all), so
every send here either completes with the broker's acknowledgement or raises
:class:`BrokerUnavailable`, which the gateway turns into 503 + Retry-After so
the channel retries. A retry republishes the same event id, and the assignment
stage drops the duplicate; that is why a timeout may safely be reported as a
failure even if the record lands later.

The producer is deskroute's (``streams.admin.producer``): one record per batch
on the embedded broker when configured so, and no idempotent producer, which
that broker does not support.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from gateway import metrics
from schemas.codec import encode
from schemas.events import EventDeadLettered, InboundReceived
from streams import topics
from streams.admin import producer
from streams.settings import Settings

log = logging.getLogger("deskroute.gateway.publisher")


class BrokerUnavailable(Exception):
    """Nothing was acknowledged in time: the caller must not report success."""


class Publisher:
    def __init__(self, settings: Settings, *, timeout_s: float | None = None) -> None:
        self.settings = settings
        self.timeout_s = timeout_s if timeout_s is not None else settings.gateway_publish_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._healthy = False
        self._connecting = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._producer is not None and self._healthy

    async def start(self) -> None:
        """Connect now; raise :class:`BrokerUnavailable` if the broker cannot be reached."""
        if not await self.connect():
            raise BrokerUnavailable(f"cannot reach the broker at {self.settings.kafka_bootstrap}")

    async def connect(self) -> bool:
        async with self._connecting:
            if self._producer is not None:
                return True
            p = producer(self.settings, request_timeout_ms=max(1000, int(self.timeout_s * 1000)))
            try:
                await asyncio.wait_for(p.start(), self.timeout_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                await p.stop()
                log.warning(
                    "broker unreachable",
                    extra={"bootstrap": self.settings.kafka_bootstrap, "error": str(exc)},
                )
                return False
            self._producer = p
            self._mark(True)
            log.info("connected to broker", extra={"bootstrap": self.settings.kafka_bootstrap})
            return True

    def watch(self, every_s: float = 1.0) -> None:
        """Keep trying to connect, and probe a producer whose last send failed."""
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_loop(every_s))

    async def _watch_loop(self, every_s: float) -> None:
        while True:
            if self._producer is None:
                await self.connect()
            elif not self._healthy:
                probe = self._producer.client.force_metadata_update()
                try:
                    self._mark(bool(await asyncio.wait_for(probe, self.timeout_s)))
                except (KafkaError, OSError, TimeoutError):
                    self._mark(False)
            await asyncio.sleep(every_s)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                # With the broker gone the client would retry its unsent batches
                # indefinitely; their requests were already answered 503, so the
                # channels resend them and nothing is lost by giving up.
                await asyncio.wait_for(producer.stop(), self.timeout_s + 5)
            except TimeoutError:
                log.warning("producer did not stop in time; unsent records dropped")
        self._mark(False)

    async def publish(self, events: Sequence[InboundReceived]) -> None:
        """Send each event to its channel's inbound topic, keyed by tenant; wait for every ack."""
        await self._send(
            [(topics.INBOUND[e.channel], e.tenant.encode(), encode(e)) for e in events]
        )

    async def dead_letter(self, record: EventDeadLettered, key: bytes) -> None:
        await self._send([(topics.DEADLETTER, key, encode(record))])

    async def _send(self, records: list[tuple[str, bytes, bytes]]) -> None:
        p = self._producer
        if p is None:
            raise BrokerUnavailable("not connected to the broker")
        started = time.perf_counter()

        async def send_all() -> None:
            futures = [await p.send(topic, value, key=key) for topic, key, value in records]
            await asyncio.gather(*futures)

        try:
            await asyncio.wait_for(send_all(), self.timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            self._mark(False)
            reason = type(exc).__name__
            log.warning("publish failed", extra={"records": len(records), "error": reason})
            raise BrokerUnavailable(f"the broker did not acknowledge in time ({reason})") from exc
        self._mark(True)
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)

    def _mark(self, healthy: bool) -> None:
        self._healthy = healthy
        metrics.BROKER_CONNECTED.set(1 if healthy and self._producer is not None else 0)
