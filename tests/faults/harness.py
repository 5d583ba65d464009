"""What the fault tests share: a cluster whose clients all go through a proxy, steady
traffic that behaves like channels and agents, and the checks of the final record.

The final record is what a downstream consumer sees (the outcome topics), what
the assignment stage read (``deskroute.tickets.routed``, where agent events are
relayed in the order they were applied) and the worker's live ``/state``. The
checks hold the product to the invariants in DESIGN.md:

* every accepted ticket ends in an outcome, and any repeat of an outcome record
  is an exact repeat of the same decision (consumers deduplicate by ticket id);
* no ticket is assigned to two agents;
* no agent is over capacity at any point: assignments and finished work are
  replayed per agent and channel in the stage's clock order;
* the workers decided exactly what the pure core decides on the same input
  (the stage's input replayed through ``agents_state``), crashes and handovers
  notwithstanding;
* the state the workers hold at the end is exactly what the record implies.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from agents_state import MemoryState
from schemas.codec import DecodeError, decode, decode_as, encode
from schemas.events import (
    CHANNELS,
    AgentPresenceChanged,
    Channel,
    Customer,
    EventDeadLettered,
    InboundReceived,
    OfferAccepted,
    OfferDeclined,
    OfferMissed,
    OfferWithdrawn,
    TicketAssigned,
    TicketEscalated,
    TicketOffered,
    TicketQueued,
    TicketRouted,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import TenantConfig
from streams import topics
from streams.admin import producer, reader
from streams.app import partition_for
from streams.assignment import AssignmentInput, run_core
from streams.broker import EmbeddedBroker, die_with_parent, free_port
from streams.processes import spawn_worker, stop_process
from streams.settings import Settings
from tests.faults.proxy import TcpProxy
from tests.support import (
    ROOT,
    Cluster,
    Worker,
    config_from,
    eventually,
    http_get,
    metric_value,
)
from tests.support import Outputs as BaseOutputs

#: Small capacities, so queues form and an over-capacity assignment would show; chats
#: and calls ring for 2 s (offers), so offers time out within a test's span.
TENANT_CONFIG = """
tenant: {tenant}
default_department: support
departments:
  - {{id: support, strategy: least-load, offer_timeout: {{chat: 2, call: 2}}}}
  - {{id: sales, strategy: round-robin, offer_timeout: {{chat: 2, call: 2}}}}
agents:
  - {{id: a1, departments: [support], capacity: {{email: 3, chat: 2, call: 1}}}}
  - {{id: a2, departments: [support, sales], capacity: {{email: 3, social: 3, chat: 2}}}}
  - {{id: a3, departments: [sales], capacity: {{email: 2, chat: 2, call: 1}}}}
  - {{id: a4, departments: [sales], capacity: {{email: 2, social: 2, call: 1}}}}
  - {{id: a5, departments: [support], capacity: {{email: 3, social: 2, chat: 2, call: 1}}}}
rules:
  - {{name: sales-calls, department: sales, when: {{channel: call}}}}
  - {{name: sales-social, department: sales, when: {{channel: social}}}}
"""
AGENTS = ("a1", "a2", "a3", "a4", "a5")


@dataclasses.dataclass(frozen=True)
class Undecodable:
    """An outcome-topic record deskroute's own codec refuses, kept as parsed JSON."""

    topic: str
    partition: int
    offset: int
    fields: dict[str, Any]
    error: str


class Outputs(BaseOutputs):
    """``tests.support.Outputs`` over every outcome topic, offers and escalations
    included, that keeps reading past a record the codec refuses (a fault test must
    see everything the worker wrote, not stop at the first oddity)."""

    TOPICS = (*BaseOutputs.TOPICS, topics.OFFERS, topics.ESCALATED)  # type: ignore[assignment]

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for tp, recs in batches.items():
                for r in recs:
                    try:
                        event: Any = decode(r.value)
                    except DecodeError as exc:
                        try:
                            fields = orjson.loads(r.value)
                        except orjson.JSONDecodeError:
                            fields = {}
                        event = Undecodable(tp.topic, r.partition, r.offset, fields, str(exc))
                    self.records.append((tp.topic, event))

    def undecodable(self) -> list[Undecodable]:
        return [e for _, e in self.records if isinstance(e, Undecodable)]


def tenant_config(tenant: str, version: int = 1) -> TenantConfig:
    return config_from(TENANT_CONFIG.format(tenant=tenant), version)


def tenants_on_partitions(partitions: int, per_partition: int = 1) -> list[str]:
    """Tenant names that cover every partition (``per_partition`` on each)."""
    found: dict[int, list[str]] = defaultdict(list)
    n = 0
    while any(len(found[p]) < per_partition for p in range(partitions)):
        name = f"t{n}"
        p = partition_for(name.encode(), partitions)
        if len(found[p]) < per_partition:
            found[p].append(name)
        n += 1
    return [t for p in range(partitions) for t in found[p]]


def say(*parts: object) -> None:
    """What a fault test injected or verified; visible with ``pytest -s``."""
    print("[fault]", *parts, flush=True)


class ProxiedCluster(Cluster):
    """A :class:`Cluster` whose broker advertises a proxy's port, so that every
    client (workers, gateway, the test's own readers and producers) goes through
    the proxy after bootstrap too, and ``proxy.cut()`` takes the broker away."""

    def __init__(self, tmp: Path, partitions: int = 4) -> None:
        super().__init__(tmp, partitions)
        self.proxy = TcpProxy(self.broker.port)
        self.broker = EmbeddedBroker(
            self.broker.port, tmp / "broker.log", advertised_port=self.proxy.port
        )

    def __enter__(self) -> ProxiedCluster:
        self.proxy.start()
        try:
            super().__enter__()
        except BaseException:
            self.proxy.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proxy.is_cut:
                self.proxy.restore()  # let the workers stop cleanly
            super().__exit__(*exc)
        finally:
            self.proxy.stop()


async def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its end when called, partition by partition
    in offset order.

    The embedded broker reports the end of a partition whose last batch holds
    several records as that batch's base offset + 1; fetches return whole
    batches, so reading until the position reaches the reported end reads the
    rest of that batch too (and those are exactly the latest records a check needs).
    """
    consumer = reader(settings)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        got: dict[int, list[Any]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + 60
        behind = [tp for tp in tps if ends[tp] > 0]
        while behind:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for tp, records in (await consumer.getmany(*behind, timeout_ms=200)).items():
                got[tp.partition] += records
            behind = [tp for tp in behind if await consumer.position(tp) < ends[tp]]
        return [r for p in sorted(got) for r in got[p]]
    finally:
        await consumer.stop()


@dataclasses.dataclass
class Sent:
    """What the broker acknowledged: the inputs the final record must account for."""

    #: ticket id -> (tenant, channel)
    tickets: dict[str, tuple[str, Channel]] = dataclasses.field(default_factory=dict)
    #: ticket id -> agent, for every WorkFinished acknowledged
    finished: dict[str, str] = dataclasses.field(default_factory=dict)
    #: (tenant, agent) -> last presence acknowledged
    presence: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    #: offers answered: "accept" / "decline" -> how many
    answers: dict[str, int] = dataclasses.field(default_factory=dict)
    agent_events: int = 0
    failed_sends: int = 0


class Traffic:
    """Steady traffic, as channels and agents make it.

    Tickets arrive at ``rate`` per second on every channel, spread over the
    tenants; each agent comes online at the start, now and then steps away for
    a moment, answers the chats and calls offered to it (mostly accepting, now
    and then declining, sometimes letting the offer time out), and finishes every
    piece of work it is assigned after a short handling time (so load stays
    bounded and queues drain). Agents react to the outcome topics, as a help
    desk's agent desk would.
    """

    def __init__(
        self,
        settings: Settings,
        tenants: list[str],
        outputs: Outputs,
        *,
        rate: float,
        seed: int,
        hold_s: tuple[float, float] = (0.2, 1.2),
        away_every_s: float = 4.0,
        answer_odds: tuple[float, float] = (0.8, 0.1),
    ) -> None:
        self.settings = settings
        self.tenants = tenants
        self.outputs = outputs
        self.rate = rate
        self.rng = random.Random(seed)
        self.hold_s = hold_s
        self.away_every_s = away_every_s
        self.sent = Sent()
        self._producer: AIOKafkaProducer = producer(settings)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pending: list[tuple[asyncio.Future[Any], str, Any]] = []
        self._n = 0
        self._issued: set[str] = set()  # ticket ids sent (acknowledged or not yet)
        self._seen_outputs = 0
        self._finishing: dict[str, tuple[float, TicketAssigned]] = {}
        self._back_online: dict[tuple[str, str], float] = {}
        self._events = 0
        #: (accept, decline) chances per offer; the rest are left to time out
        self.answer_odds = answer_odds
        self._answering: dict[tuple[str, str, float], tuple[float, str, TicketOffered]] = {}
        self._answered: set[tuple[str, str, float]] = set()
        self._generating = True
        self.acked_at: dict[str, float] = {}

    async def start(self) -> None:
        await self._producer.start()
        for tenant in self.tenants:
            for agent in AGENTS:
                await self._send_presence(tenant, agent, "online")
        self._task = asyncio.ensure_future(self._run())

    async def stop(self, timeout: float = 60.0) -> Sent:
        """Stop new tickets, finished work and breaks; let the agents answer (accept)
        every chat and call still ringing until nothing rings any more; wait for
        every acknowledgement. Work not finished stays open, work nobody can take
        waits in its queue: a final state with nothing in between. The agents go
        on accepting offers until :meth:`close`."""
        self._generating = False
        last = (-1, time.monotonic())

        def settled() -> bool:
            # Nothing ringing, nothing about to be answered, and no new outcome for a
            # while: an agent back from a break or a tick could still start an offer.
            nonlocal last
            count = len(self.outputs.records)
            if count != last[0]:
                last = (count, time.monotonic())
            busy = self.ringing() or self._answering or self._back_online
            return not busy and time.monotonic() - last[1] > 1.5

        await eventually(settled, timeout, "every offer answered after the traffic stopped")
        await self._settle(wait=True)
        # The agents keep answering (a tick may still start an offer) until close().
        return self.sent

    def ringing(self) -> set[tuple[str, str]]:
        """(ticket, agent) of offers of this traffic's tickets still ringing.

        By the stage's clock, not by the order records arrive in (outputs resent
        after a crash come again after later ones, and the topics are read side by
        side): an offer made at a clock time ends with a miss or withdrawal for that
        agent, or the ticket's assignment, at the same time or later.
        """
        offers: dict[tuple[str, str], float] = {}
        ends: dict[tuple[str, str], float] = {}
        assigned: dict[str, float] = {}
        for _, event in self.outputs.records:
            if isinstance(event, TicketOffered) and event.ticket_id in self._issued:
                for a in event.agent_ids:
                    key = (event.ticket_id, a)
                    offers[key] = max(offers.get(key, 0.0), event.offered_at)
            elif isinstance(event, OfferMissed | OfferWithdrawn):
                key = (event.ticket_id, event.agent_id)
                ends[key] = max(ends.get(key, 0.0), event.occurred_at)
            elif isinstance(event, TicketAssigned):
                assigned[event.ticket_id] = event.assigned_at
        return {
            (t, a)
            for (t, a), at in offers.items()
            if ends.get((t, a), -1.0) < at and assigned.get(t, -1.0) < at
        }

    async def caught_up(self, timeout: float, what: str) -> None:
        """Wait until the workers have decided on every ticket acknowledged 3 s ago;
        on timeout, say where the missing ones are (routed or not)."""
        try:
            await eventually(lambda: self.behind() == 0, timeout, what)
        except AssertionError as exc:
            missing = self.behind_ids()
            routed = await read_topic(self.settings, topics.ROUTED)
            routed_ids = {
                v.ticket_id
                for v in (_decode_or_none(r.value) for r in routed)
                if isinstance(v, TicketRouted)
            }
            where = {t: ("routed" if t in routed_ids else "not routed") for t in missing[:20]}
            raise AssertionError(
                f"{exc}: {len(missing)} acknowledged ticket(s) without a decision: {where}"
            ) from None

    def behind_ids(self, older_than_s: float = 3.0) -> list[str]:
        decided = {
            e.ticket_id
            for _, e in self.outputs.records
            if isinstance(e, TicketAssigned | TicketQueued | TicketOffered | TicketUnroutable)
        }
        cutoff = time.monotonic() - older_than_s
        return [t for t, at in self.acked_at.items() if at < cutoff and t not in decided]

    def behind(self, older_than_s: float = 3.0) -> int:
        """Tickets acknowledged more than ``older_than_s`` ago that the worker has
        not decided on yet (no assignment, queue, offer, or refusal): its backlog."""
        decided = {
            e.ticket_id
            for _, e in self.outputs.records
            if isinstance(e, TicketAssigned | TicketQueued | TicketOffered | TicketUnroutable)
        }
        cutoff = time.monotonic() - older_than_s
        return sum(1 for t, at in self.acked_at.items() if at < cutoff and t not in decided)

    async def close(self) -> None:
        """Stop the agents too (at the end of a test, or on a failed test's way out)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._producer.stop()

    @property
    def tickets_sent(self) -> int:
        return len(self.sent.tickets)

    async def _run(self) -> None:
        tick = 0.05
        budget = 0.0
        next_away = time.monotonic() + self.away_every_s
        while not self._stopping:
            now = time.monotonic()
            self._react(now)
            for key, (due, answer, offer) in list(self._answering.items()):
                if due <= now:
                    del self._answering[key]
                    await self._send_answer(offer, key[1], answer)
            for who, due in list(self._back_online.items()):
                if due <= now:
                    del self._back_online[who]
                    await self._send_presence(*who, "online")
            await self._settle(wait=False)
            if not self._generating:
                await asyncio.sleep(tick)
                continue
            budget += self.rate * tick
            while budget >= 1:
                budget -= 1
                await self._send_ticket()
            for ticket_id, (due, assigned) in list(self._finishing.items()):
                if due <= now:
                    del self._finishing[ticket_id]
                    await self._send_finish(assigned)
            if now >= next_away:
                next_away = now + self.away_every_s
                tenant = self.rng.choice(self.tenants)
                agent = self.rng.choice(AGENTS)
                if (tenant, agent) not in self._back_online:
                    await self._send_presence(tenant, agent, "away")
                    self._back_online[(tenant, agent)] = now + 1.0
            await asyncio.sleep(tick)

    def _react(self, now: float) -> None:
        """Schedule what the agents do about the outcomes seen since the last look."""
        records = self.outputs.records
        for _, event in records[self._seen_outputs :]:
            if isinstance(event, TicketOffered) and event.ticket_id in self._issued:
                agent = event.agent_ids[0]  # one accepts (ring-all: the first), the rest wait
                # Per offer: a ticket may ring again for an agent who was away the first time.
                key = (event.ticket_id, agent, event.offered_at)
                if key in self._answered:
                    continue  # a repeated record of the same offer
                self._answered.add(key)
                roll = self.rng.random() if self._generating else 0.0
                accept, decline = self.answer_odds
                if roll < accept:
                    answer = "accept"
                elif roll < accept + decline:
                    answer = "decline"
                else:
                    continue  # let it ring out
                self._answering[key] = (now + self.rng.uniform(0.05, 0.4), answer, event)
            elif (
                isinstance(event, TicketAssigned)
                and self._generating
                and event.ticket_id in self._issued
                and event.ticket_id not in self._finishing
                and event.ticket_id not in self.sent.finished
            ):
                self._finishing[event.ticket_id] = (now + self.rng.uniform(*self.hold_s), event)
        self._seen_outputs = len(records)

    async def _send_answer(self, offer: TicketOffered, agent: str, answer: str) -> None:
        cls = OfferAccepted if answer == "accept" else OfferDeclined
        self._events += 1
        event = cls(
            f"{answer}-{offer.ticket_id}-{agent}-{self._events}",
            offer.tenant,
            agent,
            offer.ticket_id,
            time.time(),
        )
        await self._send(topics.AGENT_EVENTS, offer.tenant, event, (answer, event))

    async def _send_ticket(self) -> None:
        self._n += 1
        tenant = self.tenants[self._n % len(self.tenants)]
        channel = self.rng.choice(CHANNELS)
        event = InboundReceived(
            f"{tenant}-k{self._n}",
            tenant,
            channel,
            f"src-{channel}",
            f"conv-{self._n}",
            Customer(f"cust-{self._n % 97}"),
            time.time(),
            priority=self.rng.randint(1, 5),
        )
        self._issued.add(event.event_id)
        await self._send(topics.INBOUND[channel], tenant, event, ("ticket", event))

    async def _send_finish(self, assigned: TicketAssigned) -> None:
        event = WorkFinished(
            f"fin-{assigned.ticket_id}",
            assigned.tenant,
            assigned.agent_id,
            assigned.ticket_id,
            time.time(),
        )
        await self._send(topics.AGENT_EVENTS, assigned.tenant, event, ("finish", event))

    async def _send_presence(self, tenant: str, agent: str, presence: str) -> None:
        self._events += 1
        event = AgentPresenceChanged(
            f"{tenant}-{agent}-p{self._events}",
            tenant,
            agent,
            presence,  # type: ignore[arg-type]
            time.time(),
        )
        await self._send(topics.AGENT_EVENTS, tenant, event, ("presence", event))

    async def _send(self, topic: str, tenant: str, event: Any, what: tuple[str, Any]) -> None:
        future = await self._producer.send(topic, encode(event), key=tenant.encode())
        self._pending.append((future, what[0], what[1]))

    async def _settle(self, *, wait: bool) -> None:
        """Record what the broker acknowledged, in the order it was sent."""
        if wait and self._pending:
            await asyncio.gather(*(f for f, _, _ in self._pending), return_exceptions=True)
        while self._pending and self._pending[0][0].done():
            future, kind, event = self._pending.pop(0)
            if future.exception() is not None:
                self.sent.failed_sends += 1
                continue
            if kind == "ticket":
                self.sent.tickets[event.event_id] = (event.tenant, event.channel)
                self.acked_at[event.event_id] = time.monotonic()
            elif kind == "finish":
                self.sent.finished[event.ticket_id] = event.agent_id
                self.sent.agent_events += 1
            elif kind in ("accept", "decline"):
                self.sent.answers[kind] = self.sent.answers.get(kind, 0) + 1
                self.sent.agent_events += 1
            else:
                self.sent.presence[(event.tenant, event.agent_id)] = event.presence
                self.sent.agent_events += 1


def capacities(configs: dict[str, TenantConfig]) -> dict[tuple[str, str, str], int]:
    """(tenant, agent, channel) -> configured capacity."""
    return {
        (tenant, agent_id, channel): n
        for tenant, cfg in configs.items()
        for agent_id, agent in cfg.agents.items()
        for channel, n in agent.capacity.items()
    }


#: Outcomes that end a ticket: each may repeat (redelivery) only as an exact copy.
FINAL = ("TicketAssigned", "TicketUnroutable", "deadlettered")


def decisions(outputs: Outputs, sent: Sent) -> tuple[dict[str, dict[str, Any]], list[str], int]:
    """ticket id -> {kind: record} (the first of each final kind, the latest queued or
    offered record), the violations of "one decision per ticket", and how many records
    were exact repeats.

    A ticket may be queued, offered and missed several times before its outcome;
    only its final outcome (assigned, unroutable, dead-lettered) must be unique,
    and an offer made at one clock time must ring for the same agents however
    often it is written (a replay after a crash decides the same). The one
    exception is a new offer at the same clock after the agents of the first one
    missed it (an agent event stamped no later than the offer, e.g. going
    offline): its OfferMissed records come first on the same partition."""
    by_ticket: dict[str, dict[str, Any]] = defaultdict(dict)
    offers: dict[tuple[str, float], list[tuple[str, ...]]] = {}
    missed: set[tuple[str, str]] = set()
    problems: list[str] = []
    repeats = 0
    for _, event in outputs.records:
        if isinstance(event, OfferMissed | OfferWithdrawn):
            missed.add((event.ticket_id, event.agent_id))
            continue
        if isinstance(event, EventDeadLettered):
            ticket_id = _dead_letter_ticket(event)
            kind = "deadlettered"
        elif isinstance(event, TicketAssigned | TicketQueued | TicketUnroutable | TicketOffered):
            ticket_id = event.ticket_id
            kind = type(event).__name__
        else:
            continue
        if ticket_id is None or ticket_id not in sent.tickets:
            continue
        if isinstance(event, TicketOffered):
            rings = offers.setdefault((ticket_id, event.offered_at), [event.agent_ids])
            rang = rings[-1]
            if event.agent_ids in rings:
                pass  # the same offer written again
            elif all((ticket_id, a) in missed for a in rang):
                rings.append(event.agent_ids)
            else:
                problems.append(
                    f"{ticket_id}: offered at {event.offered_at} to {rang} and {event.agent_ids}"
                )
        first = by_ticket[ticket_id].get(kind)
        if first is None or kind not in FINAL:
            by_ticket[ticket_id][kind] = event
        elif first == event:
            repeats += 1
        else:
            problems.append(f"{ticket_id}: two different {kind} records: {first} / {event}")
    for ticket_id, kinds in by_ticket.items():
        final = [k for k in FINAL if k in kinds]
        if len(final) > 1:
            problems.append(f"{ticket_id}: more than one outcome: {final}")
    return by_ticket, problems, repeats


def outcome(kinds: dict[str, Any]) -> str:
    """assigned, unroutable, deadlettered, or waiting (queued or ringing)."""
    for kind, name in zip(FINAL, ("assigned", "unroutable", "deadlettered"), strict=True):
        if kind in kinds:
            return name
    return "waiting"


def _decode_or_none(raw: bytes | None) -> Any:
    try:
        return decode(raw or b"")
    except DecodeError:
        return None


def _dead_letter_ticket(event: EventDeadLettered) -> str | None:
    try:
        original = decode(base64.b64decode(event.original_b64))
    except (DecodeError, ValueError):
        return None
    return getattr(original, "event_id", None)


def capacity_violations(
    outputs: Outputs,
    routed: list[Any],
    sent: Sent,
    caps: dict[tuple[str, str, str], int],
    by_ticket: dict[str, dict[str, Any]],
) -> tuple[list[str], dict[str, int]]:
    """Replay assignments and applied WorkFinished per agent and channel in the stage's
    clock order; report every moment an agent held more than its capacity.

    The stage's clock at a record is the largest record timestamp of its partition
    so far (a TicketAssigned carries it as ``assigned_at``). Where an assignment and
    a finish share a clock value the finish is counted first, so a violation found
    here is one the stage really made.
    """
    timeline: dict[tuple[str, str, str], list[tuple[float, int, str]]] = defaultdict(list)
    for ticket_id, kinds in by_ticket.items():
        assigned = kinds.get("TicketAssigned")
        if assigned is not None:
            key = (assigned.tenant, assigned.agent_id, assigned.channel)
            timeline[key].append((assigned.assigned_at, 1, ticket_id))
    clock: dict[int, float] = defaultdict(float)
    applied: set[str] = set()
    for record in routed:
        clock[record.partition] = max(clock[record.partition], record.timestamp / 1000.0)
        try:
            event = decode(record.value)
        except DecodeError:
            continue
        if not isinstance(event, WorkFinished) or event.event_id in applied:
            continue
        applied.add(event.event_id)
        ticket = sent.tickets.get(event.ticket_id)
        if ticket is not None:
            key = (event.tenant, event.agent_id, ticket[1])
            timeline[key].append((clock[record.partition], 0, event.ticket_id))
    problems: list[str] = []
    peak: dict[str, int] = defaultdict(int)
    for key, moments in timeline.items():
        held: set[str] = set()
        finished_early: set[str] = set()
        cap = caps.get(key, 0)
        for at, kind, ticket_id in sorted(moments):
            if kind == 0:
                if ticket_id in held:
                    held.discard(ticket_id)
                else:
                    finished_early.add(ticket_id)
                continue
            if ticket_id in finished_early:
                continue
            held.add(ticket_id)
            peak[key[2]] = max(peak[key[2]], len(held))
            if len(held) > cap:
                before = [
                    f"{m[0]:.3f} {'assigned' if m[1] else 'finished'} {m[2]}"
                    for m in sorted(moments)
                    if m[0] <= at
                ][-8:]
                problems.append(
                    f"{key[0]}/{key[1]} holds {len(held)} {key[2]} item(s) {sorted(held)}"
                    f" > capacity {cap} at clock {at:.3f} (ticket {ticket_id}); moments up to"
                    f" then: {before}"
                )
    return problems, dict(peak)


def _decision_key(e: Any) -> tuple[str, str, str, float]:
    who = (
        getattr(e, "agent_id", None)
        or getattr(e, "agent_ids", None)
        or getattr(e, "department", "")
    )
    at = next(
        (
            getattr(e, f)
            for f in ("assigned_at", "offered_at", "occurred_at", "queued_at")
            if hasattr(e, f)
        ),
        0.0,
    )
    return (
        type(e).__name__,
        e.ticket_id,
        str(tuple(who) if isinstance(who, list | tuple) else who),
        round(float(at), 3),
    )


def replay_divergence(
    routed: list[Any], outputs: Outputs, configs: dict[str, TenantConfig]
) -> list[str]:
    """Replay the assignment stage's input through the pure core and compare.

    The stage reads one topic; a replay of each partition in offset order, with the
    stage's clock (the largest record timestamp so far), must make exactly the
    decisions the workers published, however often they crashed or handed
    partitions over (DESIGN.md: decisions are deterministic for state and event).
    Reports, per tenant, the earliest decision only the workers made and the
    earliest only the replay made: where the workers' state went astray.
    """
    states = {tenant: MemoryState() for tenant in configs}
    clock: dict[int, float] = defaultdict(float)
    replayed: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for record in routed:
        now = clock[record.partition] = max(clock[record.partition], record.timestamp / 1000.0)
        try:
            event: Any = decode_as(AssignmentInput, record.value or b"")  # type: ignore[arg-type]
        except DecodeError:
            continue
        config = configs.get(event.tenant)
        if config is None:
            continue
        _, t = run_core(states[event.tenant], config, event, now)
        if t.duplicate or t.rejected:
            continue
        states[event.tenant].apply(t)
        replayed[event.tenant] += [(record.offset, e) for e in t.emitted]
    problems = []
    for tenant in configs:
        published = {
            _decision_key(e)
            for _, e in outputs.records
            if getattr(e, "tenant", None) == tenant and hasattr(e, "ticket_id")
            and not isinstance(e, TicketEscalated)
        }  # fmt: skip
        ours = {_decision_key(e): offset for offset, e in replayed[tenant]}
        only_workers = sorted(published - set(ours), key=lambda k: k[3])
        only_replay = sorted(set(ours) - published, key=lambda k: k[3])
        if only_workers or only_replay:
            problems.append(
                f"{tenant}: the workers' decisions differ from a replay of their input"
                f" ({len(only_workers)} only published, {len(only_replay)} only replayed);"
                f" first published-only: {only_workers[:3]}; first replay-only:"
                f" {[(k, 'input offset', ours[k]) for k in only_replay[:3]]}"
            )
    return problems


def expected_state(
    tenant: str, cfg: TenantConfig, sent: Sent, by_ticket: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The agents and queues of ``tenant`` that the final record implies (with no
    offer ringing: every ticket without a final outcome waits in its queue)."""
    open_work: dict[str, dict[str, list[str]]] = {a: {} for a in cfg.agents}
    queues: dict[str, dict[str, list[str]]] = {d: {} for d in cfg.departments}
    for ticket_id, kinds in by_ticket.items():
        if sent.tickets[ticket_id][0] != tenant:
            continue
        assigned = kinds.get("TicketAssigned")
        if assigned is not None:
            if ticket_id not in sent.finished:
                open_work[assigned.agent_id].setdefault(assigned.channel, []).append(ticket_id)
        elif outcome(kinds) == "waiting":
            last = kinds.get("TicketQueued") or kinds["TicketOffered"]
            queues[last.department].setdefault(last.channel, []).append(ticket_id)
    return {
        "agents": {
            a: {
                "presence": sent.presence.get((tenant, a), "offline"),
                "open_work": {ch: sorted(ids) for ch, ids in sorted(open_work[a].items())},
            }
            for a in cfg.agents
        },
        "queues": {
            d: {ch: sorted(ids) for ch, ids in sorted(q.items())} for d, q in queues.items()
        },
    }


def observed_state(state: dict[str, Any]) -> dict[str, Any]:
    """The same shape from a worker's ``/state/{tenant}``."""
    return {
        "agents": {
            a: {
                "presence": s["presence"],
                "open_work": {ch: sorted(ids) for ch, ids in sorted(s["open_work"].items()) if ids},
            }
            for a, s in state["agents"].items()
        },
        "queues": {
            d: {ch: sorted(ids) for ch, ids in sorted(s["queues"].items()) if ids}
            for d, s in state["departments"].items()
        },
    }


def start_worker_with(cluster: Cluster, name: str, **env: str) -> Worker:
    """Like ``cluster.start_worker()``, with settings of its own in the environment."""
    port = free_port()
    log = cluster.tmp / f"{name}.log"
    worker = Worker(
        spawn_worker(
            {
                **os.environ,
                "KAFKA_BOOTSTRAP": cluster.broker.bootstrap,
                "DESKROUTE_PARTITIONS": str(cluster.partitions),
                "DESKROUTE_WEB_PORT": str(port),
                "DESKROUTE_DATA_DIR": str(cluster.tmp / f"data-{name}"),
                **env,
            },
            log,
        ),
        f"http://127.0.0.1:{port}",
        log,
    )
    cluster.workers.append(worker)
    return worker


@dataclasses.dataclass
class GatewayProcess:
    """``deskroute ingest`` as an operator runs it, logging to ``log``."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"gateway exited:\n{self.log.read_text()[-3000:]}"
        try:
            return http_get(f"{self.url}/health/ready")[0] == 200
        except OSError:
            return False

    def stop(self) -> int:
        return stop_process(self.proc, 20)


def spawn_gateway(tmp: Path, bootstrap: str, config_yaml: str, **env: str) -> GatewayProcess:
    config = tmp / "gateway.yaml"
    config.write_text(config_yaml)
    port = free_port()
    log = tmp / "ingest.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "ingest"],
            cwd=ROOT,
            env={
                **os.environ,
                "KAFKA_BOOTSTRAP": bootstrap,
                "DESKROUTE_GATEWAY_CONFIG": str(config),
                "DESKROUTE_GATEWAY_PORT": str(port),
                **env,
            },
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    return GatewayProcess(proc, f"http://127.0.0.1:{port}", log)


def ticket_life(outputs: Outputs, sent: Sent, ticket_id: str) -> list[str]:
    """Everything the record says about one ticket, in arrival order, for a failure message."""
    life = []
    for _topic, e in outputs.records:
        if getattr(e, "ticket_id", None) == ticket_id:
            who = getattr(e, "agent_id", None) or getattr(e, "agent_ids", None) or ""
            at = getattr(e, "assigned_at", None) or getattr(e, "occurred_at", None) or ""
            life.append(f"{type(e).__name__}({who} {at})")
    if ticket_id in sent.finished:
        life.append(f"WorkFinished sent by {sent.finished[ticket_id]}")
    return life


def write_record(path: Path, outputs: Outputs, routed: list[Any]) -> None:
    with path.open("wb") as f:
        for topic, event in outputs.records:
            f.write(orjson.dumps({"topic": topic, **json.loads(encode(event))}) + b"\n")
        for r in routed:
            f.write(
                orjson.dumps(
                    {
                        "topic": r.topic,
                        "partition": r.partition,
                        "offset": r.offset,
                        "timestamp": r.timestamp,
                        "headers": [(k, v.decode("utf-8", "replace")) for k, v in r.headers],
                        "value": r.value.decode("utf-8", "replace"),
                    }
                )
                + b"\n"
            )


def state_of(workers: list[Worker], tenant: str) -> dict[str, Any] | None:
    """``/state/{tenant}`` from whichever live worker holds the tenant now."""
    for w in workers:
        if w.proc.poll() is not None:
            continue
        try:
            status, body = http_get(f"{w.web}/state/{tenant}")
        except OSError:
            continue
        if status == 200:
            return dict(json.loads(body))
    return None


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in differences(a.get(k), b.get(k), f"{path}/{k}")
        ]
    return [] if a == b else [f"{path}: expected {a!r}, worker has {b!r}"]


async def check_final_record(
    settings: Settings,
    workers: list[Worker],
    outputs: Outputs,
    sent: Sent,
    configs: dict[str, TenantConfig],
    timeout: float = 30.0,
    dump: Path | None = None,
) -> dict[str, Any]:
    """Wait until every accepted ticket has an outcome and the workers' state matches
    the record, then check every invariant; return a summary for the test to print.

    ``dump``: a file to write the record to (outcomes, then the stage's input), one
    JSON line per record, for a post-mortem when a check fails."""
    deadline = time.monotonic() + timeout
    problems: list[str] = []
    while True:
        by_ticket, problems, repeats = decisions(outputs, sent)
        undecided = [t for t in sent.tickets if t not in by_ticket]
        diffs: list[str] = []
        if not undecided:
            for tenant, cfg in configs.items():
                state = state_of(workers, tenant)
                if state is None:
                    diffs.append(f"{tenant}: no live worker serves its state")
                    continue
                want = expected_state(tenant, cfg, sent, by_ticket)
                diffs += [f"{tenant}{d}" for d in differences(want, observed_state(state))]
        if not undecided and not diffs:
            break
        if time.monotonic() > deadline:
            routed = await read_topic(settings, topics.ROUTED)
            if dump is not None:
                write_record(dump, outputs, routed)
            diverged = replay_divergence(routed, outputs, configs)
            involved = sorted({t for d in diffs for t in re.findall(r"'([^']+-k\d+)'", d)})
            lives = {t: ticket_life(outputs, sent, t) for t in involved[:10]}
            raise AssertionError(
                f"final record incomplete after {timeout}s: {len(undecided)} accepted ticket(s)"
                f" without an outcome (e.g. {undecided[:10]}); state differences: {diffs[:20]};"
                f" what the record says of the tickets involved: {lives};"
                f" replay of the stage's input: {diverged or 'same decisions'}"
            )
        await asyncio.sleep(0.2)
    routed = await read_topic(settings, topics.ROUTED)
    if dump is not None:
        write_record(dump, outputs, routed)
    caps = capacities(configs)
    problems = replay_divergence(routed, outputs, configs) + problems
    over, peak = capacity_violations(outputs, routed, sent, caps, by_ticket)
    problems += over
    agents_of: dict[str, set[str]] = defaultdict(set)
    for _, event in outputs.records:
        if isinstance(event, TicketAssigned):
            agents_of[event.ticket_id].add(event.agent_id)
    twice = {t: sorted(a) for t, a in agents_of.items() if len(a) > 1}
    if twice:
        problems.append(f"tickets assigned to two agents: {dict(list(twice.items())[:10])}")
    kinds = Counter(outcome(k) for k in by_ticket.values())
    offered = sum(1 for k in by_ticket.values() if "TicketOffered" in k)
    missed = Counter(e.reason for e in outputs.of(OfferMissed) if e.ticket_id in sent.tickets)
    summary = {
        "tickets_accepted": len(sent.tickets),
        "agent_events_accepted": sent.agent_events,
        "work_finished": len(sent.finished),
        "outcomes": dict(kinds),
        "offered": offered,
        "offers_answered": sent.answers,
        "offers_missed": dict(missed),
        "repeated_outcome_records": repeats,
        "peak_load_by_channel": peak,
        "routed_records": len(routed),
    }
    assert not problems, f"invariants violated ({len(problems)}): {problems[:20]}; {summary}"
    return summary


NOT_OPEN = "work not open for this agent"


def finishes_for_work_not_held(worker: Worker) -> float:
    """WorkFinished events this worker applied for work it did not think the agent held.

    The agents of these tests finish only work they were assigned, once, so every
    such event means the worker's state lost an assignment it had made (and the
    agent's load was undercounted from then on)."""
    try:
        return worker.metric("deskroute_noop_agent_events_total", reason=NOT_OPEN)
    except OSError:
        return 0.0


def worker_recovery_counters(worker: Worker) -> dict[str, float]:
    text = worker.metrics()
    return {
        name: metric_value(text, name)
        for name in (
            "deskroute_replayed_events_total",
            "deskroute_resent_outputs_total",
            "deskroute_duplicate_events_total",
            "deskroute_state_behind_commit_total",
        )
    }
