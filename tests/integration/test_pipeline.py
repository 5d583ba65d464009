"""The whole pipeline on the real embedded broker: inbound of all four channels and
agent events in, the exact assignments and queue entries out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import (
    AgentPresenceChanged,
    Customer,
    EventDeadLettered,
    InboundReceived,
    TicketAssigned,
    TicketQueued,
    WorkFinished,
)
from streams import topics
from tests.support import Cluster, Outputs, Worker, config_from, eventually

pytestmark = pytest.mark.broker

TENANT = "acme"
CONFIG = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load, offer_timeout: {chat: 0, call: 0}}
  - {id: sales, strategy: round-robin, offer_timeout: {chat: 0, call: 0}}
agents:
  - {id: ann, departments: [support], capacity: {email: 2, social: 2, chat: 1, call: 1}}
  - {id: bob, departments: [support], capacity: {email: 2, chat: 1}}
  - {id: cat, departments: [sales], capacity: {email: 1, social: 1, chat: 1, call: 1}}
  - {id: dan, departments: [sales], capacity: {email: 1, chat: 1, call: 1}}
rules:
  - {name: sales-line, department: sales, when: {channel: call, source: "call:+1000"}}
  - {name: pricing-chat, department: sales, when: {channel: chat, source: "chat:pricing"}}
"""


def inbound(
    event_id: str, channel: str, source: str, priority: int = 3
) -> tuple[str, InboundReceived]:
    ev = InboundReceived(
        event_id,
        TENANT,
        channel,
        source,
        f"conv-{event_id}",  # type: ignore[arg-type]
        Customer("c1"),
        time.time(),
        priority=priority,
    )
    return topics.INBOUND[channel], ev


def online(agent_id: str, event_id: str) -> tuple[str, AgentPresenceChanged]:
    return topics.AGENT_EVENTS, AgentPresenceChanged(
        event_id, TENANT, agent_id, "online", time.time()
    )


async def applied(worker: Worker, n: int) -> None:
    """Agent events leave no output record; their metric shows they were applied."""
    await eventually(
        lambda: worker.metric("deskroute_agent_events_total") >= n, 30, f"{n} agent events"
    )


def test_tickets_of_every_channel_are_assigned_queued_and_drained(tmp_path: Path) -> None:
    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(CONFIG))
            worker = cluster.start_worker()
            await cluster.ready(worker)
            out = Outputs(cluster.settings)
            await out.start()
            try:
                key = TENANT.encode()
                await cluster.send_all(
                    [online("ann", "p1"), online("bob", "p2"), online("cat", "p3")], key
                )
                await applied(worker, 3)

                # One at a time, each awaited, so the expected agents are exact.
                steps = [
                    (
                        inbound("e1", "email", "email:help@acme.example"),
                        "ann",
                    ),  # least load, tie -> order
                    (inbound("s1", "social", "facebook"), "ann"),  # bob takes no social
                    (
                        inbound("c1", "chat", "chat:pricing"),
                        "cat",
                    ),  # sales round robin, dan offline
                    (inbound("k1", "call", "call:+1000"), "cat"),  # only cat online in sales
                    (inbound("e2", "email", "email:help@acme.example"), "bob"),  # ann 1/2, bob 0/2
                ]
                for n, (item, agent) in enumerate(steps, start=1):
                    await cluster.send_all([item], key)
                    assigned = await out.wait_for(TicketAssigned, n)
                    assert (assigned[-1].ticket_id, assigned[-1].agent_id) == (
                        item[1].event_id,
                        agent,
                    )

                # cat is at call capacity and dan is offline: the second sales call waits.
                await cluster.send_all([inbound("k2", "call", "call:+1000")], key)
                (queued,) = await out.wait_for(TicketQueued, 1)
                assert (queued.ticket_id, queued.department, queued.position) == ("k2", "sales", 1)
                assert "1 at capacity" in queued.reason and "1 offline" in queued.reason

                # A redelivered inbound event (same id) is recognised; the next one is served.
                await cluster.send_all(
                    [
                        inbound("e1", "email", "email:help@acme.example"),
                        inbound("e3", "email", "email:help@acme.example"),
                    ],
                    key,
                )
                assigned = await out.wait_for(TicketAssigned, 6)
                assert [a.ticket_id for a in assigned].count("e1") == 1
                assert (assigned[-1].ticket_id, assigned[-1].agent_id) == ("e3", "ann")
                assert worker.metric("deskroute_duplicate_events_total", stage="assignment") == 1

                # cat finishes the first call: the waiting call goes to cat, having waited.
                await cluster.send_all(
                    [(topics.AGENT_EVENTS, WorkFinished("f1", TENANT, "cat", "k1", time.time()))],
                    key,
                )
                assigned = await out.wait_for(TicketAssigned, 7)
                drained = assigned[-1]
                assert (drained.ticket_id, drained.agent_id, drained.department) == (
                    "k2",
                    "cat",
                    "sales",
                )
                assert drained.waited_s > 0
                # A finished-work event delivered twice frees nothing twice.
                await cluster.send_all(
                    [(topics.AGENT_EVENTS, WorkFinished("f1", TENANT, "cat", "k1", time.time()))],
                    key,
                )
                await eventually(
                    lambda: (
                        worker.metric("deskroute_duplicate_events_total", stage="agent_events") == 1
                    )
                )

                # Undecodable input is dead-lettered with its reason; the worker goes on.
                await cluster.send_all([(topics.INBOUND["chat"], b"{not json")], key)
                (dead,) = await out.wait_for(EventDeadLettered, 1)
                assert (dead.topic, dead.reason) == (topics.INBOUND["chat"], "malformed_json")
                await cluster.send_all([inbound("c2", "chat", "chat:help")], key)
                assigned = await out.wait_for(TicketAssigned, 8)
                # Both free for chat; bob got his last item before ann got e3: longest idle wins.
                assert (assigned[-1].ticket_id, assigned[-1].agent_id) == ("c2", "bob")

                state = worker.state(TENANT)
                assert state["agents"]["cat"]["open_work"] == {"call": ["k2"], "chat": ["c1"]}
                assert state["agents"]["ann"]["open_work"] == {
                    "email": ["e1", "e3"],
                    "social": ["s1"],
                }
                assert state["agents"]["bob"]["open_work"] == {"chat": ["c2"], "email": ["e2"]}
                assert state["departments"]["sales"]["queues"] == {}
                assert (
                    worker.metric("deskroute_assignments_total", department="sales", channel="call")
                    == 2
                )
                assert (
                    worker.metric("deskroute_deadlettered_events_total", reason="malformed_json")
                    == 1
                )
            finally:
                await out.stop()

    asyncio.run(scenario())
