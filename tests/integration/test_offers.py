"""Offers on the real broker: a chat rings, is accepted, another rings out, and an
offer ringing when the worker is SIGKILLed still times out after the restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import (
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    OfferAccepted,
    OfferMissed,
    TicketAssigned,
    TicketOffered,
    WorkFinished,
)
from streams import topics
from tests.support import Cluster, Outputs, config_from, eventually

pytestmark = pytest.mark.broker

TENANT = "acme"
CONFIG = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load, offer_timeout: {chat: 3}}
agents:
  - {id: ann, departments: [support], capacity: {chat: 1}}
  - {id: bob, departments: [support], capacity: {chat: 1}}
"""


def chat(event_id: str) -> tuple[str, InboundReceived]:
    ev = InboundReceived(
        event_id, TENANT, "chat", "chat:web", f"conv-{event_id}", Customer("c"), time.time()
    )
    return topics.INBOUND["chat"], ev


def test_offers_ring_are_accepted_and_time_out_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKROUTE_TICK_SECONDS", "0.2")

    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(CONFIG))
            first = cluster.start_worker()
            await cluster.ready(first)
            out = Outputs(cluster.settings)
            await out.start()
            key = TENANT.encode()
            try:
                await cluster.send_all(
                    [
                        (
                            topics.AGENT_EVENTS,
                            AgentPresenceChanged(f"p-{a}", TENANT, a, "online", 1.0),
                        )
                        for a in ("ann", "bob")
                    ],
                    key,
                )
                await eventually(
                    lambda: first.metric("deskroute_agent_events_total") >= 2, 30, "agents online"
                )
                await cluster.send_all([chat("c1")], key)
                (offer,) = await out.wait_for(TicketOffered, 1)
                assert (offer.ticket_id, offer.agent_ids) == ("c1", ("ann",))
                print(f"offered c1 to {offer.agent_ids}, expires in 3 s")
                accepted = OfferAccepted("acc-1", TENANT, "ann", "c1", time.time())
                await cluster.send_all([(topics.AGENT_EVENTS, accepted)], key)
                (assigned,) = await out.wait_for(TicketAssigned, 1)
                assert (assigned.ticket_id, assigned.agent_id) == ("c1", "ann")

                # c2 rings for bob (ann is full); the worker dies while it rings.
                await cluster.send_all([chat("c2")], key)
                await out.wait_for(TicketOffered, 2)
                offer2 = out.of(TicketOffered)[1]
                assert (offer2.ticket_id, offer2.agent_ids) == ("c2", ("bob",))
                first.kill()
                print("SIGKILLed the worker while c2 rang for bob")
                second = cluster.start_worker()
                await cluster.ready(second)
                # The restarted worker's clock rings the offer out: bob missed it.
                missed = await out.wait_for(OfferMissed, 1, timeout=60)
                assert {(m.ticket_id, m.agent_id, m.reason) for m in missed} == {
                    ("c2", "bob", "timeout")
                }
                # ann frees up; c2 rings for her (never again for bob) and she takes it.
                finished = WorkFinished("f-c1", TENANT, "ann", "c1", time.time())
                await cluster.send_all([(topics.AGENT_EVENTS, finished)], key)
                await eventually(
                    lambda: any(
                        o.ticket_id == "c2" and o.agent_ids == ("ann",)
                        for o in out.of(TicketOffered)
                    ),
                    30,
                    "c2 offered to ann",
                )
                accepted2 = OfferAccepted("acc-2", TENANT, "ann", "c2", time.time())
                await cluster.send_all([(topics.AGENT_EVENTS, accepted2)], key)
                await eventually(
                    lambda: any(a.ticket_id == "c2" for a in out.of(TicketAssigned)),
                    30,
                    "c2 assigned",
                )
                agents_of: dict[str, set[str]] = {}
                for a in out.of(TicketAssigned):
                    agents_of.setdefault(a.ticket_id, set()).add(a.agent_id)
                assert agents_of == {"c1": {"ann"}, "c2": {"ann"}}
                state = second.state(TENANT)
                assert state["agents"]["ann"]["open_work"] == {"chat": ["c2"]}
                assert state["agents"]["bob"]["open_work"] == {}
                print("verified: accept, timeout after restart, re-offer, one agent per ticket")
            finally:
                await out.stop()

    asyncio.run(scenario())
