"""Topic creation and config publication: the steps before a worker can route."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas.codec import encode
from schemas.tenant_config import TenantConfig
from streams import fetch_gaps, topics
from streams.fetch_wait import guard
from streams.security import client_kwargs
from streams.settings import Settings

log = logging.getLogger("deskroute.admin")


async def wait_for_broker(settings: Settings, timeout: float | None = 30.0) -> None:
    """Return once a Kafka client can bootstrap; ``timeout=None`` waits for good.

    While it waits it says so (a warning now and then, never per attempt), and it
    retries ever less often, up to once a second.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = 0.1
    next_warning = started
    warned = False
    while True:
        admin = AIOKafkaAdminClient(**client_kwargs(settings))
        try:
            await admin.start()
            await admin.close()
            if warned:
                log.info("broker reachable", extra={"waited_s": round(loop.time() - started, 1)})
            return
        except KafkaConnectionError:
            await admin.close()
            now = loop.time()
            if timeout is not None and now - started > timeout:
                raise
            if now >= next_warning:
                log.warning(
                    "waiting for the broker",
                    extra={
                        "bootstrap": settings.kafka_bootstrap,
                        "waited_s": round(now - started, 1),
                    },
                )
                next_warning = now + 10.0
                warned = True
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


async def create_topics(settings: Settings) -> list[str]:
    """Create every topic with the configured partition count; return those created."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in topics.all_topics(settings.app_id) if s.name not in existing]
        new = [
            NewTopic(
                s.name,
                settings.partitions,
                settings.replication,
                topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
            )
            for s in wanted
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                await admin.create_topics(new)
        log.info("topics ready", extra={"created": [s.name for s in wanted]})
        return [s.name for s in wanted]
    finally:
        await admin.close()


def producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """A producer with deskroute's defaults (acks=all, the configured batch size)."""
    kwargs: dict[str, object] = {
        **client_kwargs(settings),
        "acks": "all",
        "linger_ms": settings.producer_linger_ms,
        "max_batch_size": settings.producer_max_batch_bytes,
    }
    kwargs.update(overrides)
    return AIOKafkaProducer(**kwargs)


class _Reader(AIOKafkaConsumer):  # type: ignore[misc]
    """A consumer whose fetch wait rises while the broker starves its partitions
    (:mod:`streams.fetch_wait`): reports and followers read logs of any length."""

    def __init__(self, *topic_names: str, ceiling_ms: int, **kwargs: object) -> None:
        super().__init__(*topic_names, **kwargs)
        self._ceiling_ms = ceiling_ms

    async def start(self) -> None:
        await super().start()
        guard(self, self._ceiling_ms, "reader")


def reader(settings: Settings, *topic_names: str, **overrides: object) -> AIOKafkaConsumer:
    """A group-less consumer that reads from the beginning with the configured
    fetch wait and Kafka security: for followers, tail reads, reports and tests."""
    kwargs: dict[str, object] = {
        **client_kwargs(settings),
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
    }
    kwargs.update(overrides)
    fetch_gaps.install(settings.fetch_gap_wait_s)
    return _Reader(*topic_names, ceiling_ms=settings.fetch_max_wait_ceiling_ms, **kwargs)


async def publish_config(settings: Settings, config: TenantConfig) -> None:
    p = producer(settings)
    await p.start()
    try:
        await p.send_and_wait(topics.CONFIG, encode(config), key=config.tenant.encode())
    finally:
        await p.stop()
    log.info("config published", extra=config.summary())
