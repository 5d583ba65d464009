"""Rules change while the worker runs: the next event follows the new version.

A real worker on the real embedded broker; each new config version is published
to the compacted config topic as ``deskroute config apply`` does, and the test
reads what the worker wrote: the ``TicketRouted`` record (rule, config version,
explanation) and the outcome (``TicketAssigned`` / ``TicketUnroutable``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from schemas.events import (
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    TicketAssigned,
    TicketRouted,
    TicketUnroutable,
)
from schemas.tenant_config import ConditionConfig
from streams import topics
from streams.admin import publish_config
from tests.support import Cluster, Outputs, Worker, config_from, eventually

pytestmark = pytest.mark.broker

TENANT = "acme"
BASE = """
tenant: acme
departments:
  - {id: sales}
  - {id: support}
agents:
  - {id: ann, departments: [sales], capacity: {email: 5}}
  - {id: bob, departments: [support], capacity: {email: 5}}
rules:
"""
V1 = (
    BASE
    + """
  - name: help-to-sales
    if: [{field: mailbox, op: equals, value: help@acme.example}]
    actions: [{transfer: sales}]
"""
)
V2 = (
    BASE
    + """
  - name: vip-tag
    stop: false
    if: [{field: customer.vip, op: equals, value: true}]
    actions: [{add_tag: vip}, {set_priority: 1}]
  - name: help-to-support
    if: [{field: mailbox, op: equals, value: help@acme.example}]
    actions: [{transfer: support}]
"""
)
V3 = V2.replace(
    "rules:\n",
    "rules:\n  - {name: no-bounces, if: [{field: automatic, op: is_set}],"
    " actions: [{drop: bounce}]}\n",
)


class Routed(Outputs):
    """The routed topic too: the rule stage's own verdicts."""

    TOPICS = (topics.ROUTED, *Outputs.TOPICS)


def mail(event_id: str, **attributes: object) -> tuple[str, InboundReceived]:
    ev = InboundReceived(
        event_id,
        TENANT,
        "email",
        "email:help@acme.example",
        f"conv-{event_id}",
        Customer("c1", "Ada", "ada@example.org"),
        time.time(),
        attributes=dict(attributes),
    )
    return topics.INBOUND["email"], ev


async def version_in_force(worker: Worker, version: int) -> None:
    await eventually(
        lambda: worker.metric("deskroute_config_version", tenant=TENANT) == version,
        30,
        f"config version {version} in force",
    )


def test_new_rules_apply_to_the_next_event_without_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        with Cluster(tmp_path, partitions=2) as cluster:
            await cluster.prepare(config_from(V1, version=1))
            worker = cluster.start_worker()
            await cluster.ready(worker)
            out = Routed(cluster.settings)
            await out.start()
            key = TENANT.encode()
            try:
                await cluster.send_all(
                    [
                        (
                            topics.AGENT_EVENTS,
                            AgentPresenceChanged(f"p-{a}", TENANT, a, "online", time.time()),
                        )
                        for a in ("ann", "bob")
                    ],
                    key,
                )
                await cluster.send_all([mail("e1")], key)
                (first,) = await out.wait_for(TicketAssigned, 1)
                (routed,) = out.of(TicketRouted)
                assert (routed.rule, routed.config_version, routed.department) == (
                    "help-to-sales",
                    1,
                    "sales",
                )
                assert routed.explanation["matched"] == ["help-to-sales"]
                assert (first.agent_id, first.explanation["config_version"]) == ("ann", 1)

                # Version 2 moves the mailbox to support and tags VIPs.
                await publish_config(cluster.settings, config_from(V2, version=2))
                await version_in_force(worker, 2)
                await cluster.send_all([mail("e2", customer={"vip": True})], key)
                second = (await out.wait_for(TicketAssigned, 2))[-1]
                routed = out.of(TicketRouted)[-1]
                assert (routed.ticket_id, routed.rule, routed.config_version) == (
                    "e2",
                    "help-to-support",
                    2,
                )
                assert (routed.department, routed.priority, routed.tags) == ("support", 1, ("vip",))
                assert routed.explanation["matched"] == ["vip-tag", "help-to-support"]
                assert (second.ticket_id, second.agent_id) == ("e2", "bob")
                assert second.explanation["config_version"] == 2

                # Version 3 drops bounces: the ticket ends unroutable, with the rule's reason.
                await publish_config(cluster.settings, config_from(V3, version=3))
                await version_in_force(worker, 3)
                await cluster.send_all([mail("e3", automatic="bounce")], key)
                (dropped,) = await out.wait_for(TicketUnroutable, 1)
                assert (dropped.ticket_id, dropped.reason) == (
                    "e3",
                    "dropped by rule no-bounces: bounce",
                )
                routed = out.of(TicketRouted)[-1]
                assert (routed.rule, routed.config_version, routed.department) == (
                    "no-bounces",
                    3,
                    "",
                )

                # A record with a rule no file would pass is refused whole; version 3 stays.
                bad = config_from(V3, version=4)
                broken = dataclasses.replace(
                    bad.rules[1], groups=((ConditionConfig("subject", "containz", "x"),),)
                )
                bad = dataclasses.replace(bad, rules=(bad.rules[0], broken, *bad.rules[2:]))
                await publish_config(cluster.settings, bad)
                await eventually(
                    lambda: worker.metric("deskroute_config_rejected_total") == 1, 30, "rejection"
                )
                await cluster.send_all([mail("e4")], key)
                assert (await out.wait_for(TicketAssigned, 3))[-1].agent_id == "bob"
                assert out.of(TicketRouted)[-1].config_version == 3

                assert worker.metric("deskroute_config_reloads_total", tenant=TENANT) == 2
                assert worker.metric("deskroute_rule_unroutable_total", kind="dropped") == 1
                assert worker.metric("deskroute_rule_matches_total", rule="help-to-support") == 2
                assert worker.metric("deskroute_rule_matches_total", rule="vip-tag") == 1
                assert worker.metric("deskroute_rule_evaluations_total") >= 4
                log = worker.log.read_text(errors="replace")
                assert "config reloaded tenant=acme from_version=2 to_version=3" in log
            finally:
                await out.stop()

    asyncio.run(scenario())
