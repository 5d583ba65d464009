"""The ceiling: a raw aiokafka pass-through on the embedded broker, in one process.

Consume from a source topic pre-filled with N inbound events (the same events,
sizes and key ``b"demo"`` deskroute gets, so they sit on one partition of the
4-partition topic), ``orjson`` decode, ``orjson`` encode, produce to a sink topic
with the same key. Throughput is N over the time from the first record handed
out by the consumer to the ack of the last record produced (``time.perf_counter``
in this process).

``ceiling_eps`` uses deskroute's producer settings (acks=all, linger 0, 16384
byte batches) on a fresh broker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import (
    TENANT_KEY,
    broker_settings,
    cpu_seconds,
    fresh_broker,
    inbound_events,
    prefill,
    rate,
    say,
)
from streams.admin import producer, reader
from streams.settings import Settings

#: N when ``BENCH_EVENTS`` is unset: about 10 seconds for both passes.
DEFAULT_EVENTS = 20_000
SOURCE = "bench.ceiling.source"
SINK = "bench.ceiling.sink"


async def _create_topics(settings: Settings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, settings.partitions, settings.replication) for name in names]
        )
    finally:
        await admin.close()


async def pass_through(
    settings: Settings, n: int, sink: str, timeout: float, broker_pid: int
) -> tuple[float, float, float]:
    """Copy N records SOURCE -> sink through orjson.

    Returns the seconds it took and the cores this process and the broker kept
    busy meanwhile (CPU seconds / wall seconds).
    """
    consumer = reader(settings)
    p = producer(settings)
    await p.start()
    await consumer.start()
    try:
        await p.partitions_for(sink)  # metadata before the clock starts
        tps = [TopicPartition(SOURCE, i) for i in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        futures: list[asyncio.Future[Any]] = []
        first = cpu_self = cpu_broker = 0.0
        count = 0
        deadline = time.monotonic() + timeout
        while count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pass-through to {sink}: {count}/{n} records in {timeout}s")
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                continue
            if not first:
                first = time.perf_counter()
                cpu_self, cpu_broker = time.process_time(), cpu_seconds(broker_pid)
            for records in batches.values():
                for r in records:
                    value = orjson.dumps(orjson.loads(r.value))
                    futures.append(await p.send(sink, value, key=r.key))
            count += sum(len(records) for records in batches.values())
        await asyncio.gather(*futures)
        took = time.perf_counter() - first
        self_cores = (time.process_time() - cpu_self) / took
        broker_cores = (cpu_seconds(broker_pid) - cpu_broker) / took
        return took, round(self_cores, 2), round(broker_cores, 2)
    finally:
        await consumer.stop()
        await p.stop()


async def _measure(settings: Settings, n: int, broker_pid: int) -> dict[str, float]:
    await _create_topics(settings, [SOURCE, SINK])
    events = inbound_events(n)
    sizes = [len(value) for _channel, value in events]
    say(
        f"ceiling: {n} events, {sum(sizes) / n:.0f} bytes on average "
        f"({min(sizes)}..{max(sizes)}), key {TENANT_KEY!r}"
    )
    await prefill(settings, [(SOURCE, TENANT_KEY, value) for _c, value in events], "ceiling")
    timeout = max(120.0, n / 100)
    seconds, self_cores, broker_cores = await pass_through(settings, n, SINK, timeout, broker_pid)
    eps = rate(n, seconds)
    say(
        f"ceiling: {n} records in {seconds:.2f}s = {eps:.0f}/s; "
        f"cores busy: pass-through {self_cores}, broker {broker_cores}"
    )
    return {
        "ceiling_eps": eps,
        "ceiling_events": n,
        "ceiling_process_cores": self_cores,
        "ceiling_broker_cores": broker_cores,
        "event_bytes_mean": round(sum(sizes) / n, 1),
    }


def run(n: int) -> dict[str, float]:
    with fresh_broker("ceiling") as broker:
        broker_pid = broker.proc.pid if broker.proc else 0
        return asyncio.run(_measure(broker_settings(broker), n, broker_pid))
