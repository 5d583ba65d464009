"""Every worker's copy of all tenant configs, read from the compacted config topic.

Both stages need any tenant's config on any worker (the rule stage is stateless
and may see a tenant whose state partition lives elsewhere), so each worker reads
the whole topic with a group-less consumer instead of a partitioned table.
Versions only move forward: a replayed older record never replaces a newer one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from rules import compiled_for, config_problems
from schemas.codec import DecodeError, decode_as
from schemas.tenant_config import TenantConfig
from streams import metrics
from streams.fetch_wait import guard

log = logging.getLogger("deskroute.config")

#: The config follower's fetch wait at the least. A broker holding an empty fetch
#: looks again after half the remaining wait, so a new version still arrives within
#: about half of this; a follower polling every 10 ms cost the worker ~3 % of a
#: core at demo rates (py-spy) and the broker a request per poll.
FOLLOW_WAIT_MS = 250


class ConfigStore:
    def __init__(self) -> None:
        self.configs: dict[str, TenantConfig] = {}
        self.ready = asyncio.Event()

    def get(self, tenant: str) -> TenantConfig | None:
        return self.configs.get(tenant)

    def apply_record(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            cfg = decode_as(TenantConfig, value)
        except DecodeError as exc:
            metrics.CONFIG_REJECTED.inc()
            log.error("config record rejected", extra={"reason": exc.reason, "detail": exc.detail})
            return
        problems = cfg.problems() + config_problems(cfg)
        if problems:
            metrics.CONFIG_REJECTED.inc()
            log.error("config record rejected", extra={"tenant": cfg.tenant, "problems": problems})
            return
        current = self.configs.get(cfg.tenant)
        if current is not None and current.version >= cfg.version:
            return
        try:
            compiled_for(cfg)  # now, so the first event of the new version does not pay for it
        except (ValueError, KeyError, TypeError) as exc:  # a check missed it: still refuse
            metrics.CONFIG_REJECTED.inc()
            log.error(
                "config record rejected", extra={"tenant": cfg.tenant, "problems": [repr(exc)]}
            )
            return
        self.configs[cfg.tenant] = cfg
        metrics.CONFIG_VERSION.labels(cfg.tenant).set(cfg.version)
        summary = cfg.summary()
        if current is None:
            log.info("config applied", extra=summary)
            return
        metrics.CONFIG_RELOADS.labels(cfg.tenant).inc()
        # key=value in the message itself: the worker's log format does not print extras.
        log.info(
            "config reloaded tenant=%s from_version=%d to_version=%d departments=%d agents=%d rules=%d",
            cfg.tenant,
            current.version,
            cfg.version,
            summary["departments"],
            summary["agents"],
            summary["rules"],
            extra={**summary, "from_version": current.version},
        )

    async def run(
        self,
        client: Mapping[str, Any],
        topic: str,
        fetch_max_wait_ms: int,
        fetch_max_wait_ceiling_ms: int = 2000,
    ) -> None:
        """Read to the end once (then ``ready`` is set), then follow new versions forever.

        ``client`` is :func:`streams.security.client_kwargs`: bootstrap servers and TLS/SASL.
        """
        consumer = AIOKafkaConsumer(
            **client,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=max(fetch_max_wait_ms, FOLLOW_WAIT_MS),
        )
        await consumer.start()
        guard(consumer, fetch_max_wait_ceiling_ms, "config")
        try:
            parts = consumer.partitions_for_topic(topic)
            while not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await asyncio.sleep(0.2)
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp in tps if ends[tp] > 0}
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for r in records:
                        self.apply_record(r.key, r.value)
                    if tp in pending and records and records[-1].offset + 1 >= ends[tp]:
                        pending.discard(tp)
                if not pending and not self.ready.is_set():
                    self.ready.set()
                    log.info("configs loaded", extra={"tenants": sorted(self.configs)})
        finally:
            await consumer.stop()
