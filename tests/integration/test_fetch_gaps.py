"""A consumer reads every record of a partition that two producers write at once,
one of them 10 MB records: the embedded broker answers past a large record it has
not stored yet, and the consumer holds there instead of moving past it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from streams import metrics, topics
from streams.admin import create_topics, producer, reader, wait_for_broker
from tests.support import Cluster

pytestmark = pytest.mark.broker

BIG = 10 * 1024 * 1024
#: Large records written, at most, until the broker has answered past one.
ROUNDS = 20


def counted(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_no_record_is_read_past_while_the_broker_stores_a_large_one(tmp_path: Path) -> None:
    async def run(cluster: Cluster) -> None:
        settings = cluster.settings
        await wait_for_broker(settings)
        await create_topics(settings)
        held_before = counted("deskroute_fetch_gaps_held_total")
        filled_before = counted("deskroute_fetch_gaps_total", outcome="filled")
        big = producer(settings, max_request_size=BIG + 65536, max_batch_size=1)
        small = producer(settings, linger_ms=0)
        consumer = reader(settings)
        tp = TopicPartition(topics.ROUTED, 0)
        await big.start()
        await small.start()
        await consumer.start()
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        read: list[int] = []
        written: list[int] = []
        stop = asyncio.Event()
        all_written = asyncio.Event()

        async def consume() -> None:
            # Reads until the last record written, once no producer writes any more.
            while not all_written.is_set() or (read[-1:] or [-1])[0] < max(written):
                batch = await consumer.getmany(tp, timeout_ms=200)
                read.extend(r.offset for r in batch.get(tp, []))

        async def smalls() -> None:
            while not stop.is_set():
                written.append((await small.send_and_wait(topics.ROUTED, b"s", partition=0)).offset)

        tasks = [asyncio.create_task(smalls()), asyncio.create_task(consume())]
        try:
            rounds = 0
            while rounds < ROUNDS and counted("deskroute_fetch_gaps_held_total") == held_before:
                meta = await big.send_and_wait(topics.ROUTED, b"{" + b" " * BIG + b"}", partition=0)
                written.append(meta.offset)
                rounds += 1
                await asyncio.sleep(0.1)
            stop.set()
            await tasks[0]
            all_written.set()
            await asyncio.wait_for(tasks[1], 60)
        finally:
            for t in tasks:
                t.cancel()
            await consumer.stop()
            await small.stop()
            await big.stop()
        held = counted("deskroute_fetch_gaps_held_total") - held_before
        assert read == list(range(max(written) + 1)), (
            f"missing: {sorted(set(range(max(written) + 1)) - set(read))[:10]}"
        )
        assert held > 0, f"the broker never answered past a record in {rounds} large ones"
        assert counted("deskroute_fetch_gaps_total", outcome="filled") - filled_before == held

    with Cluster(tmp_path) as cluster:
        asyncio.run(run(cluster))
