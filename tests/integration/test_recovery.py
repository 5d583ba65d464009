"""Table state survives a SIGKILLed worker exactly: a fresh worker rebuilds it from
the changelogs (and replays what was not committed) to the same value."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.events import (
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    TicketAssigned,
    TicketQueued,
    WorkFinished,
)
from streams import topics
from tests.support import Cluster, Outputs, config_from, eventually

pytestmark = pytest.mark.broker

TENANTS = ("acme", "globex", "hooli")  # partitions 0, 3 and 1 of 4
CONFIG = """
tenant: {tenant}
default_department: support
departments:
  - {{id: support, strategy: least-load, offer_timeout: {{chat: 0, call: 0}}}}
  - {{id: sales, strategy: round-robin, offer_timeout: {{chat: 0, call: 0}}}}
agents:
  - {{id: a1, departments: [support], capacity: {{email: 5, chat: 2, call: 1}}}}
  - {{id: a2, departments: [support, sales], capacity: {{email: 5, social: 5, chat: 2}}}}
  - {{id: a3, departments: [sales], capacity: {{email: 3, chat: 2, call: 1}}}}
  - {{id: a4, departments: [sales], capacity: {{email: 3, social: 3, call: 1}}}}
rules:
  - {{name: sales-calls, department: sales, when: {{channel: call}}}}
  - {{name: sales-social, department: sales, when: {{channel: social}}}}
"""
CHANNELS = ("email", "social", "chat", "call")


def workload(tenant: str, rng: random.Random, n: int) -> list[tuple[str, Any]]:
    """Agents log in, tickets of every channel arrive, and some finish in between."""
    items: list[tuple[str, Any]] = [
        (
            topics.AGENT_EVENTS,
            AgentPresenceChanged(f"{tenant}-p{a}", tenant, f"a{a}", "online", 1.0),
        )
        for a in (1, 2, 3, 4)
    ]
    for i in range(n):
        channel = rng.choice(CHANNELS)
        items.append(
            (
                topics.INBOUND[channel],
                InboundReceived(
                    f"{tenant}-t{i}",
                    tenant,
                    channel,
                    f"src-{channel}",
                    f"conv-{i}",  # type: ignore[arg-type]
                    Customer("c"),
                    time.time(),
                    priority=rng.randint(1, 4),
                ),
            )
        )
    return items


def routing(state: dict[str, Any]) -> dict[str, Any]:
    """The routing part of /state: the applied offsets move on with every clock tick."""
    return {k: v for k, v in state.items() if k != "applied_offsets"}


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in differences(a.get(k), b.get(k), f"{path}/{k}")
        ]
    return [] if a == b else [f"{path}: before {a!r}, after {b!r}"]


def test_state_recovered_exactly_after_sigkill(tmp_path: Path) -> None:
    rng = random.Random(42)

    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(CONFIG.format(tenant=TENANTS[0])))
            for tenant in TENANTS[1:]:
                await cluster.prepare(config_from(CONFIG.format(tenant=tenant)))
            first = cluster.start_worker()
            await cluster.ready(first)
            out = Outputs(cluster.settings)
            await out.start()
            try:
                per_tenant = 120
                for tenant in TENANTS:
                    await cluster.send_all(workload(tenant, rng, per_tenant), tenant.encode())
                total = per_tenant * len(TENANTS)

                def decided() -> int:
                    return len({e.ticket_id for e in out.of(TicketAssigned) + out.of(TicketQueued)})

                await eventually(lambda: decided() >= total, 60, f"{total} decisions")
                # Finish half of the assigned work: frees capacity, drains queues, more writes.
                finishes = [
                    (
                        topics.AGENT_EVENTS,
                        WorkFinished(f"f-{a.ticket_id}", a.tenant, a.agent_id, a.ticket_id, 2.0),
                    )
                    for a in out.of(TicketAssigned)[::2]
                ]
                for tenant in TENANTS:
                    await cluster.send_all(
                        [f for f in finishes if f[1].tenant == tenant], tenant.encode()
                    )
                expected_events = 4 * len(TENANTS) + len(finishes)
                await eventually(
                    lambda: first.metric("deskroute_agent_events_total") >= expected_events,
                    60,
                    "agent events applied",
                )
                before = {t: routing(first.state(t)) for t in TENANTS}
                assert any(
                    d["queues"] for s in before.values() for d in s["departments"].values()
                ), "the workload should leave work waiting"

                first.kill()
                second = cluster.start_worker()
                await cluster.ready(second)
                # The second worker rebuilds state from the changelog (whole events only)
                # and replays what was read after it; deterministic handling brings it
                # back to exactly the state the killed worker had.
                try:
                    await eventually(
                        lambda: {t: routing(second.state(t)) for t in TENANTS} == before,
                        60,
                        "recovered state equal to the state before the kill",
                    )
                except AssertionError:
                    after = {t: routing(second.state(t)) for t in TENANTS}
                    raise AssertionError("\n".join(differences(before, after))) from None
                assert second.metric("deskroute_state_behind_commit_total") == 0
                # Outputs may repeat after a crash, but never name a second agent.
                agents_of: dict[str, set[str]] = {}
                for a in out.of(TicketAssigned):
                    agents_of.setdefault(a.ticket_id, set()).add(a.agent_id)
                assert all(len(agents) == 1 for agents in agents_of.values())
                print(
                    "replayed:",
                    second.metric("deskroute_replayed_events_total"),
                    "resent:",
                    second.metric("deskroute_resent_outputs_total"),
                    "changelog tail:",
                    second.metric("deskroute_changelog_tail_records_total"),
                )

                # Recovered state keeps deduplicating: a redelivered ticket is no new work.
                assigned_before = len(out.of(TicketAssigned))
                await cluster.send_all(
                    workload(TENANTS[0], random.Random(42), 3)[4:], TENANTS[0].encode()
                )
                await eventually(
                    lambda: (
                        second.metric("deskroute_duplicate_events_total", stage="assignment") >= 1
                    ),
                    30,
                    "duplicate recognised after recovery",
                )
                assert len({a.ticket_id for a in out.of(TicketAssigned)}) == len(
                    {a.ticket_id for a in out.of(TicketAssigned)[:assigned_before]}
                )
            finally:
                await out.stop()

    asyncio.run(scenario())
