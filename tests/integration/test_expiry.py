"""Rows that only serve deduplication leave the state table after the retention
window, on a clock tick, and stay gone after a crash; a ticket id redelivered after
that is new work (the documented rule), one redelivered within it changes nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.events import (
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    TicketAssigned,
    TicketUnroutable,
    WorkFinished,
)
from streams import topics
from tests.support import Cluster, Outputs, config_from, eventually

pytestmark = pytest.mark.broker

TENANT = "acme"
RETENTION_S = 4.0
CONFIG = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load}
agents:
  - {id: ann, departments: [support], capacity: {email: 5}}
rules:
  - name: drop-bounces
    if: [{field: automatic, op: in, value: [bounce]}]
    actions: [{drop: bounce}]
"""


def mail(event_id: str, automatic: str = "") -> tuple[str, InboundReceived]:
    return topics.INBOUND["email"], InboundReceived(
        event_id,
        TENANT,
        "email",
        "email:help@acme.example",
        f"conv-{event_id}",
        Customer("c1"),
        time.time(),
        attributes={"automatic": automatic} if automatic else {},
    )


def test_expired_rows_leave_the_table_and_an_old_id_is_new_work_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKROUTE_DEDUPE_RETENTION_S", str(RETENTION_S))
    monkeypatch.setenv("DESKROUTE_TICK_SECONDS", "0.5")

    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(CONFIG))
            worker = cluster.start_worker()
            await cluster.ready(worker)
            out = Outputs(cluster.settings)
            await out.start()
            try:
                key = TENANT.encode()
                online = AgentPresenceChanged("p1", TENANT, "ann", "online", time.time())
                await cluster.send_all([(topics.AGENT_EVENTS, online)], key)
                await cluster.send_all([mail("t1"), mail("t2", automatic="bounce")], key)
                (assigned,) = await out.wait_for(TicketAssigned, 1)
                await out.wait_for(TicketUnroutable, 1)
                done = WorkFinished("f1", TENANT, "ann", "t1", time.time())
                await cluster.send_all([(topics.AGENT_EVENTS, done)], key)
                await eventually(
                    lambda: worker.metric("deskroute_agent_events_total") >= 2, 30, "finish applied"
                )
                # Within the window a redelivery changes nothing.
                await cluster.send_all([mail("t1")], key)
                await eventually(
                    lambda: (
                        worker.metric("deskroute_duplicate_events_total", stage="assignment") >= 1
                    ),
                    30,
                    "duplicate within the window",
                )
                rows_before = worker.metric("deskroute_state_rows")
                # Two tickets (finished, unroutable) and two seen rows (p1, f1) expire.
                await eventually(
                    lambda: worker.metric("deskroute_state_rows_expired_total") >= 4,
                    RETENTION_S + 30,
                    "rows expired",
                )
                assert worker.metric("deskroute_state_rows_expired_total", kind="ticket") == 2
                assert worker.metric("deskroute_state_rows_expired_total", kind="seen") == 2
                rows_after = worker.metric("deskroute_state_rows")
                assert rows_after == rows_before - 4, (rows_before, rows_after)

                # A crash and a rebuild from the changelog: the tombstones hold.
                worker.kill()
                second = cluster.start_worker()
                await cluster.ready(second)
                await eventually(
                    lambda: second.metric("deskroute_state_rows") == rows_after,
                    30,
                    f"{rows_after} rows after recovery",
                )
                state = second.state(TENANT)
                assert state["agents"]["ann"]["open_work"] == {}

                # After the window the id is unknown: the redelivered ticket is new work.
                await cluster.send_all([mail("t1")], key)
                again = await out.wait_for(TicketAssigned, 2, timeout=30)
                assert [a.ticket_id for a in again] == ["t1", "t1"]
                assert again[1].agent_id == assigned.agent_id == "ann"
            finally:
                await out.stop()

    asyncio.run(scenario())
