"""A worker keeps routing on a partition longer than the broker can list within
its fetch wait (the embedded broker answers such a fetch with no records): the
wait rises, the backlog is read, and a new ticket is assigned."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.codec import encode
from schemas.events import AgentPresenceChanged, ClockTicked, TicketAssigned
from streams import topics
from streams.admin import producer
from streams.app import partition_for
from tests.integration.test_expiry import CONFIG, mail
from tests.support import Cluster, Outputs, config_from

pytestmark = pytest.mark.broker

#: One-record batches ahead of the worker: at a 1 ms fetch wait the broker lists
#: about 1,000-2,000 of them before it gives up (checked: 5,000 returned nothing
#: for 20 s without the rise).
BATCHES = 6_000


async def one_record_batches(cluster: Cluster, n: int) -> None:
    """``n`` old clock ticks of acme, each its own batch, on acme's routed partition."""
    p = producer(cluster.settings, max_batch_size=1)
    await p.start()
    try:
        part = partition_for(b"acme", cluster.partitions)
        start = time.time() - 3600
        sent = [
            await p.send(
                topics.ROUTED, encode(ClockTicked("acme", start + i)), key=b"acme", partition=part
            )
            for i in range(n)
        ]
        await asyncio.gather(*sent)
    finally:
        await p.stop()


def test_a_partition_past_the_brokers_listing_limit_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKROUTE_FETCH_MAX_WAIT_MS", "1")

    async def run(cluster: Cluster) -> None:
        await cluster.prepare(config_from(CONFIG))
        await one_record_batches(cluster, BATCHES)
        await cluster.send_all(
            [
                (
                    topics.AGENT_EVENTS,
                    AgentPresenceChanged("p1", "acme", "ann", "online", time.time()),
                )
            ],
            key=b"acme",
        )
        worker = cluster.start_worker()
        await cluster.ready(worker)
        outputs = Outputs(cluster.settings)
        await outputs.start()
        try:
            await cluster.send_all([mail("m1")], key=b"acme")
            assigned = await outputs.wait_for(TicketAssigned, 1, timeout=60)
            assert (assigned[0].ticket_id, assigned[0].agent_id) == ("m1", "ann")
        finally:
            await outputs.stop()
        raised = worker.metric("deskroute_fetch_wait_raised_total", client="worker")
        wait_s = worker.metric("deskroute_fetch_max_wait_seconds")
        print(
            f"injected {BATCHES} one-record batches on the routed partition, fetch wait 1 ms; "
            f"verified: ticket assigned, wait raised {raised:.0f} times to {wait_s * 1000:.0f} ms"
        )
        assert raised >= 1
        assert wait_s > 0.001

    with Cluster(tmp_path) as cluster:
        asyncio.run(run(cluster))
