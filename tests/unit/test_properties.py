"""Stateful properties of the routing core under random interleavings of events.

A small random tenant (1-3 departments, 1-4 agents, random memberships, per
channel capacities and strategies) receives routed tickets (sometimes for an
unknown department or with a rule-stage reason), presence and capacity changes,
finished work, and redeliveries of earlier events. The test keeps its own model
of presence, capacity overrides, open work and each ticket's outcome, built only
from the events it sent and the events the core emitted, and after every step
checks the design's invariants against both the model and the core's state.

Departments may ring chats and calls as offers (one agent, or ring-all) with a
short timeout: agents accept, decline or let the offer ring out as the clock
ticks, and go away while an offer rings. An offer holds a slot of its agent, so
invariant 1 counts open work and ringing offers together.

Capacity can be lowered at run time below an agent's current load. Invariant 1
then means: no *new* assignment pushes a load above the capacity in force, and a
load that is above capacity never grows.

Waiting work is derived from the ticket rows (``agents_state.queues``): some events
are decided and never applied (the worker lost its partition, the core failed half
way), and the lines the next decision starts from must still be exactly the queued
rows, in service order.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from agents_state import (
    MemoryState,
    QueueEntry,
    Transition,
    on_agent_event,
    on_clock_ticked,
    on_ticket_routed,
    state_key,
)
from agents_state.model import KEY_SEP
from schemas.events import (
    PRESENCES,
    AgentCapacityChanged,
    AgentEvent,
    AgentPresenceChanged,
    ClockTicked,
    OfferAccepted,
    OfferDeclined,
    OfferMissed,
    OfferWithdrawn,
    Presence,
    TicketAssigned,
    TicketOffered,
    TicketQueued,
    TicketRouted,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import AgentConfig, DepartmentConfig, TenantConfig

from .builders import TENANT, Event, is_empty, step

CHANNELS_USED = ("chat", "email", "call")
STRATEGY_NAMES = ("least-load", "round-robin", "ring-all")
OFFER_TIMEOUT = 5.0
UNKNOWN_AGENT = "ghost-agent"
UNKNOWN_DEPT = "ghost-dept"

QueueKey = tuple[str, str]  # (department, channel)
SortKey = tuple[int, float, str]


@st.composite
def tenant_configs(draw: st.DrawFn) -> TenantConfig:
    departments: dict[str, DepartmentConfig] = {}
    for i in range(draw(st.integers(1, 3))):
        dept_id = f"d{i}"
        departments[dept_id] = DepartmentConfig(
            dept_id,
            dept_id,
            draw(st.sampled_from(STRATEGY_NAMES)),
            draw(
                st.dictionaries(
                    st.sampled_from(CHANNELS_USED), st.sampled_from(STRATEGY_NAMES), max_size=2
                )
            ),
            offer_timeout_s=draw(
                st.sampled_from([{}, {"chat": OFFER_TIMEOUT, "call": OFFER_TIMEOUT}])
            ),
        )
    agents: dict[str, AgentConfig] = {}
    for j in range(draw(st.integers(1, 4))):
        agent_id = f"a{j}"
        agents[agent_id] = AgentConfig(
            agent_id,
            agent_id,
            tuple(draw(st.lists(st.sampled_from(sorted(departments)), unique=True))),
            draw(st.dictionaries(st.sampled_from(CHANNELS_USED), st.integers(0, 2))),
            draw(st.integers(1, 100)),
        )
    return TenantConfig(TENANT, 1, departments, agents, (), "")


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.config = TenantConfig(TENANT, 1, {}, {}, (), "")
        self.state = MemoryState()
        self.now = 1.0
        self.serial = 0
        #: Every event sent, with its time, and what the core emitted for it.
        self.log: list[tuple[Event, float]] = []
        self.outputs: list[list[Any]] = []
        self.routed: dict[str, TicketRouted] = {}
        self.applied_agent_events: list[AgentEvent] = []
        # The test's own model, fed only by sent and emitted events.
        self.presence: dict[str, Presence] = {}
        self.override: dict[str, dict[str, int]] = defaultdict(dict)
        self.open: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.status: dict[str, str] = {}
        self.holder: dict[str, str] = {}
        #: ticket -> agents its offer rings for (status "offered").
        self.ringing: dict[str, list[str]] = {}

    # --- helpers -----------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def capacity(self, agent_id: str, channel: str) -> int:
        if channel in self.override[agent_id]:
            return self.override[agent_id][channel]
        return self.config.agents[agent_id].capacity.get(channel, 0)

    def load(self, agent_id: str, channel: str) -> int:
        """Open work plus ringing offers: what holds the agent's slots on the channel."""
        ringing = sum(
            1
            for tid, agents in self.ringing.items()
            if agent_id in agents and self.routed[tid].channel == channel
        )
        return len(self.open[(agent_id, channel)]) + ringing

    def missed_by(self, ticket_id: str) -> tuple[str, ...]:
        ticket = self.state.tickets.get(state_key(TENANT, ticket_id))
        return ticket.missed_by if ticket is not None else ()

    def queues(self) -> dict[QueueKey, tuple[QueueEntry, ...]]:
        out: dict[QueueKey, tuple[QueueEntry, ...]] = {}
        for dept_id in self.config.departments:
            for channel, entries in self.state.waiting(TENANT).channels(dept_id).items():
                out[(dept_id, channel)] = tuple(entries)
        return out

    def state_open_work(self) -> dict[tuple[str, str], tuple[str, ...]]:
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for agent_id in self.config.agents:
            st_ = self.state.agents.get(state_key(TENANT, agent_id))
            if st_ is not None:
                for channel, ids in st_.open_work.items():
                    if ids:
                        out[(agent_id, channel)] = ids
        return out

    def snapshot(self) -> tuple[dict[str, Any], ...]:
        """Shallow copies suffice: every row is an immutable value."""
        s = self.state
        return dict(s.agents), dict(s.departments), dict(s.tickets), dict(s.seen)

    def send(self, event: Event) -> Transition:
        queues_before = self.queues()
        loads_before = {k: self.load(*k) for k in list(self.open)}
        snapshot = self.snapshot()
        t = step(self.state, self.config, event, self.now)
        self.log.append((event, self.now))
        self.outputs.append(list(t.emitted))
        if t.duplicate:
            # Invariant 4: a redelivered event changes nothing.
            assert is_empty(t), t
            assert self.snapshot() == snapshot
            return t
        self.update_model(event, t)
        self.check_assignments(event, t, queues_before, loads_before)
        return t

    def update_model(self, event: Event, t: Transition) -> None:
        if isinstance(event, TicketRouted):
            own = [e for e in t.emitted if getattr(e, "ticket_id", None) == event.ticket_id]
            # Invariant 3: a new ticket gets exactly one outcome at once.
            assert len(own) == 1, own
            assert isinstance(
                own[0], TicketAssigned | TicketQueued | TicketUnroutable | TicketOffered
            )
            should_be_unroutable = bool(event.reason) or (
                event.department not in self.config.departments
            )
            assert isinstance(own[0], TicketUnroutable) == should_be_unroutable
        elif isinstance(event, ClockTicked):
            pass
        elif event.agent_id not in self.config.agents:
            assert t.rejected, t
            assert is_empty(t)
            return
        else:
            assert not t.rejected
            self.applied_agent_events.append(event)
            if isinstance(event, AgentPresenceChanged):
                self.presence[event.agent_id] = event.presence
            elif isinstance(event, AgentCapacityChanged):
                self.override[event.agent_id].update(event.capacity)
            elif isinstance(event, WorkFinished):
                holder = self.holder.get(event.ticket_id)
                is_open = holder == event.agent_id and self.status[event.ticket_id] == "assigned"
                assert bool(t.noop) != is_open, (t.noop, holder)
                if is_open:
                    channel = self.routed[event.ticket_id].channel
                    self.open[(event.agent_id, channel)].remove(event.ticket_id)
                    self.status[event.ticket_id] = "finished"
            elif isinstance(event, OfferAccepted | OfferDeclined):
                rings = event.agent_id in self.ringing.get(event.ticket_id, [])
                assert bool(t.noop) != rings, (t.noop, self.ringing.get(event.ticket_id))
        for ev in t.emitted:
            if isinstance(ev, TicketAssigned):
                if isinstance(event, OfferAccepted):
                    assert self.status[ev.ticket_id] == "offered", ev
                    assert ev.agent_id == event.agent_id, ev
                    assert self.ringing.pop(ev.ticket_id) == [ev.agent_id], ev
                else:
                    assert self.status.get(ev.ticket_id, "queued") == "queued", ev
                self.status[ev.ticket_id] = "assigned"
                self.holder[ev.ticket_id] = ev.agent_id
                self.open[(ev.agent_id, ev.channel)].append(ev.ticket_id)
            elif isinstance(ev, TicketOffered):
                assert self.status.get(ev.ticket_id, "queued") == "queued", ev
                assert ev.agent_ids, ev
                self.status[ev.ticket_id] = "offered"
                self.ringing[ev.ticket_id] = list(ev.agent_ids)
            elif isinstance(ev, OfferMissed | OfferWithdrawn):
                assert self.status[ev.ticket_id] == "offered", ev
                self.ringing[ev.ticket_id].remove(ev.agent_id)
                if isinstance(ev, OfferMissed) and not self.ringing[ev.ticket_id]:
                    del self.ringing[ev.ticket_id]
                    self.status[ev.ticket_id] = "queued"
            elif isinstance(ev, TicketQueued):
                assert ev.ticket_id not in self.status, ev
                self.status[ev.ticket_id] = "queued"
            elif isinstance(ev, TicketUnroutable):
                assert ev.ticket_id not in self.status, ev
                self.status[ev.ticket_id] = "unroutable"
            else:
                raise AssertionError(f"unexpected output {ev!r}")

    def check_assignments(
        self,
        event: Event,
        t: Transition,
        queues_before: dict[QueueKey, tuple[QueueEntry, ...]],
        loads_before: dict[tuple[str, str], int],
    ) -> None:
        keys: dict[str, SortKey] = {
            e.ticket_id: e.sort_key() for entries in queues_before.values() for e in entries
        }
        if isinstance(event, TicketRouted):
            keys[event.ticket_id] = (event.priority, self.now, event.ticket_id)
        queues_after = self.queues()
        served: dict[QueueKey, list[SortKey]] = defaultdict(list)
        for ev in t.emitted:
            if isinstance(ev, TicketOffered):
                placed = ev.agent_ids
            elif isinstance(ev, TicketAssigned) and not isinstance(event, OfferAccepted):
                placed = (ev.agent_id,)
            else:
                continue
            channel = ev.channel
            for agent_id in placed:
                # Invariant 2: online, a member of the department, enabled for the channel.
                assert self.presence.get(agent_id) == "online", (ev, self.presence)
                assert ev.department in self.config.agents[agent_id].departments, ev
                assert agent_id in self.config.department_agents[ev.department], ev
                assert self.capacity(agent_id, channel) > 0, ev
                # Invariant 1: open work plus ringing offers never exceed capacity.
                assert self.load(agent_id, channel) <= self.capacity(agent_id, channel), ev
            # Invariant 6: the assigned ticket was at the head of its queue.
            routed = self.routed[ev.ticket_id]
            assert (routed.department, routed.channel) == (ev.department, channel), ev
            if ev.ticket_id not in keys:  # back in the queue within this event (a missed offer)
                ticket = self.state.tickets[state_key(TENANT, ev.ticket_id)]
                keys[ev.ticket_id] = (ticket.priority, ticket.enqueued_at, ev.ticket_id)
            key = keys[ev.ticket_id]
            queue = (ev.department, channel)
            assert all(key > k for k in served[queue]), (queue, served[queue], key)
            served[queue].append(key)
            # ...unless the agents it went to already missed the earlier ones' offers.
            left_behind = [
                e
                for e in queues_after.get(queue, ())
                if e.sort_key() < key and not set(placed) <= set(self.missed_by(e.ticket_id))
            ]
            assert not left_behind, (ev.ticket_id, left_behind)
        # Invariant 1, lowered capacity: a load above capacity never grows.
        for agent_id, channel in list(self.open):
            load = self.load(agent_id, channel)
            if load > self.capacity(agent_id, channel):
                assert load <= loads_before.get((agent_id, channel), 0), (agent_id, channel)

    # --- rules -------------------------------------------------------------------

    @initialize(config=tenant_configs())
    def use_config(self, config: TenantConfig) -> None:
        self.config = config

    @rule(delta=st.sampled_from([0.5, 1.0, 7.0]))
    def tick(self, delta: float) -> None:
        """Time passes and the clock ticks (offers ring out after OFFER_TIMEOUT)."""
        self.now += delta
        t = self.send(ClockTicked(TENANT, self.now))
        assert not t.duplicate
        for tid, agents in self.ringing.items():
            ticket = self.state.tickets.get(state_key(TENANT, tid))
            assert ticket is not None and ticket.offer_expires_at > self.now, (tid, agents)

    @precondition(lambda self: bool(self.routed))
    @rule(data=st.data(), accept=st.booleans())
    def answer_offer(self, data: st.DataObject, accept: bool) -> None:
        ringing = sorted((tid, a) for tid, agents in self.ringing.items() for a in agents)
        if ringing and data.draw(st.integers(0, 4)) > 0:
            ticket_id, agent_id = data.draw(st.sampled_from(ringing))
        else:  # a late, foreign or unknown answer
            agent_id = data.draw(st.sampled_from(sorted(self.config.agents)))
            ticket_id = data.draw(st.sampled_from(sorted(self.routed)))
        kind = OfferAccepted if accept else OfferDeclined
        self.send(kind(self.next_id("o"), TENANT, agent_id, ticket_id, self.now))

    def routed_ticket(
        self, ticket_id: str, channel: str, department: str, priority: int, reason: str = ""
    ) -> TicketRouted:
        """A ticket as the rule stage routes it, now."""
        return TicketRouted(
            ticket_id=ticket_id,
            tenant=TENANT,
            channel=channel,  # type: ignore[arg-type]
            source=f"{channel}:x",
            conversation_id="c",
            department=department,
            rule="r",
            config_version=1,
            priority=priority,
            received_at=self.now,
            ingested_at=self.now,
            routed_at=self.now,
            reason=reason,
        )

    @rule(
        data=st.data(),
        channel=st.sampled_from(CHANNELS_USED),
        priority=st.integers(1, 5),
        how=st.sampled_from(["known"] * 8 + ["unknown-department", "rule-stage-reason"]),
    )
    def route_ticket(self, data: st.DataObject, channel: str, priority: int, how: str) -> None:
        department = data.draw(st.sampled_from(sorted(self.config.departments)))
        reason = ""
        if how == "unknown-department":
            department = UNKNOWN_DEPT
        elif how == "rule-stage-reason":
            department, reason = "", "no rule matched"
        ev = self.routed_ticket(self.next_id("t"), channel, department, priority, reason)
        self.routed[ev.ticket_id] = ev
        self.send(ev)

    @precondition(lambda self: bool(self.routed))
    @rule(data=st.data())
    def redeliver_ticket(self, data: st.DataObject) -> None:
        ev = data.draw(st.sampled_from(sorted(self.routed)).map(self.routed.__getitem__))
        assert self.send(ev).duplicate

    @rule(data=st.data(), presence=st.sampled_from((*PRESENCES, "online", "online")))
    def change_presence(self, data: st.DataObject, presence: Presence) -> None:
        agent_id = data.draw(st.sampled_from([*sorted(self.config.agents), UNKNOWN_AGENT]))
        self.send(AgentPresenceChanged(self.next_id("p"), TENANT, agent_id, presence, self.now))

    @rule(
        data=st.data(),
        capacity=st.dictionaries(st.sampled_from(CHANNELS_USED), st.integers(0, 3), min_size=1),
    )
    def change_capacity(self, data: st.DataObject, capacity: dict[str, int]) -> None:
        agent_id = data.draw(st.sampled_from([*sorted(self.config.agents), UNKNOWN_AGENT]))
        self.send(AgentCapacityChanged(self.next_id("c"), TENANT, agent_id, capacity, self.now))

    @rule(data=st.data())
    def finish_work(self, data: st.DataObject) -> None:
        open_items = sorted((a, tid) for (a, _c), ids in self.open.items() for tid in ids)
        if open_items and data.draw(st.integers(0, 4)) > 0:
            agent_id, ticket_id = data.draw(st.sampled_from(open_items))
        else:  # a stale or foreign finish
            agent_id = data.draw(st.sampled_from([*sorted(self.config.agents), UNKNOWN_AGENT]))
            ticket_id = data.draw(st.sampled_from([*sorted(self.routed), "never-routed"]))
        self.send(WorkFinished(self.next_id("f"), TENANT, agent_id, ticket_id, self.now))

    @rule(
        data=st.data(),
        kind=st.sampled_from(["route", "presence", "finish", "answer", "tick"]),
    )
    def decide_without_applying(self, data: st.DataObject, kind: str) -> None:
        """The core decides an event whose transition is never applied: the rows stay
        as they were, and the next decision starts from them (not from the lines the
        abandoned one moved)."""
        snapshot = self.snapshot()
        agent_id = data.draw(st.sampled_from(sorted(self.config.agents)))
        ev: Any
        if kind == "route":
            department = data.draw(st.sampled_from(sorted(self.config.departments)))
            channel = data.draw(st.sampled_from(CHANNELS_USED))
            priority = data.draw(st.integers(1, 5))
            ev = self.routed_ticket(self.next_id("never"), channel, department, priority)
            on_ticket_routed(self.state, self.config, ev, self.now)
        elif kind == "tick":
            later = self.now + data.draw(st.sampled_from([1.0, 7.0]))
            on_clock_ticked(self.state, self.config, ClockTicked(TENANT, later), later)
        else:
            if kind == "presence":
                value = data.draw(st.sampled_from(PRESENCES))
                ev = AgentPresenceChanged(self.next_id("p"), TENANT, agent_id, value, self.now)
            elif kind == "finish":
                open_items = sorted((a, tid) for (a, _c), ids in self.open.items() for tid in ids)
                if open_items:
                    agent_id, ticket_id = data.draw(st.sampled_from(open_items))
                else:
                    ticket_id = "never-routed"
                ev = WorkFinished(self.next_id("f"), TENANT, agent_id, ticket_id, self.now)
            else:
                ringing = sorted((tid, a) for tid, agents in self.ringing.items() for a in agents)
                ticket_id = "never-routed"
                if ringing:
                    ticket_id, agent_id = data.draw(st.sampled_from(ringing))
                kind_ = data.draw(st.sampled_from([OfferAccepted, OfferDeclined]))
                ev = kind_(self.next_id("o"), TENANT, agent_id, ticket_id, self.now)
            on_agent_event(self.state, self.config, ev, self.now)
        assert self.snapshot() == snapshot  # deciding writes no row

    @precondition(lambda self: bool(self.applied_agent_events))
    @rule(data=st.data())
    def redeliver_agent_event(self, data: st.DataObject) -> None:
        ev = data.draw(st.sampled_from(self.applied_agent_events))
        assert self.send(ev).duplicate

    # --- invariants after every step --------------------------------------------------

    @invariant()
    def every_ticket_is_in_exactly_one_place(self) -> None:
        """Invariant 3: queued in one queue, or open for one agent, or finished/unroutable."""
        in_queues: dict[str, list[QueueKey]] = defaultdict(list)
        for queue, entries in self.queues().items():
            for e in entries:
                in_queues[e.ticket_id].append(queue)
        in_work: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for where, ids in self.state_open_work().items():
            for tid in ids:
                in_work[tid].append(where)
        assert set(in_queues) <= set(self.routed), in_queues
        assert set(in_work) <= set(self.routed), in_work
        for tid, ev in self.routed.items():
            ticket = self.state.tickets.get(state_key(TENANT, tid))
            assert ticket is not None, f"routed ticket {tid} missing from state"
            assert ticket.status == self.status[tid], (tid, ticket, self.status[tid])
            if ticket.status == "queued":
                assert in_queues[tid] == [(ev.department, ev.channel)], (tid, in_queues[tid])
                assert tid not in in_work, (tid, in_work[tid])
            elif ticket.status == "assigned":
                assert ticket.agent_id == self.holder[tid]
                assert in_work[tid] == [(self.holder[tid], ev.channel)], (tid, in_work[tid])
                assert tid not in in_queues, (tid, in_queues[tid])
            elif ticket.status == "offered":
                assert list(ticket.offered_to) == self.ringing[tid], (tid, ticket)
                assert tid not in in_queues and tid not in in_work, tid
                for agent_id in self.config.agents:
                    a = self.state.agents.get(state_key(TENANT, agent_id))
                    holds = a is not None and tid in a.offers.get(ev.channel, ())
                    assert holds == (agent_id in ticket.offered_to), (tid, agent_id)
            else:
                assert tid not in in_queues, (tid, in_queues[tid])
                assert tid not in in_work, (tid, in_work[tid])

    @invariant()
    def open_work_matches_the_model(self) -> None:
        model = {k: tuple(v) for k, v in self.open.items() if v}
        assert self.state_open_work() == model

    @invariant()
    def queues_are_in_service_order(self) -> None:
        """Invariant 6: priority, then age, then id; no ticket twice."""
        for queue, entries in self.queues().items():
            keys = [e.sort_key() for e in entries]
            assert keys == sorted(keys), (queue, keys)
            assert len({e.ticket_id for e in entries}) == len(entries), (queue, entries)

    @invariant()
    def lines_are_the_queued_rows(self) -> None:
        """Every line the core reads is exactly its queued ticket rows, in service
        order, however the decisions before (applied or not) moved it."""
        expected: dict[tuple[bool, str, str], list[QueueEntry]] = defaultdict(list)
        for key, row in self.state.tickets.items():
            assert key.split(KEY_SEP, 1) == [TENANT, row.ticket_id]
            if row.status == "queued":
                constrained = bool(row.skills or row.optional_skills or row.missed_by)
                entry = QueueEntry(
                    row.ticket_id, row.priority, row.enqueued_at, row.ingested_at, constrained
                )
                expected[(row.pull, row.department, row.channel)].append(entry)
        for entries in expected.values():
            entries.sort(key=lambda e: (e.priority, e.enqueued_at, e.ticket_id))
        lines = self.state.waiting(TENANT)
        found = {
            (pull, dept_id, channel): list(line)
            for pull, by_department in ((False, lines.queues), (True, lines.pulls))
            for dept_id, by_channel in by_department.items()
            for channel, line in by_channel.items()
            if len(line)
        }
        assert found == dict(expected)
        for by_department in (lines.queues, lines.pulls):
            for by_channel in by_department.values():
                for line in by_channel.values():
                    assert line.constrained == sum(e.constrained for e in line)

    def teardown(self) -> None:
        """Invariant 5: the same events on fresh state give the same outputs and state."""
        replay = MemoryState()
        for (event, now), expected in zip(self.log, self.outputs, strict=True):
            assert step(replay, self.config, event, now).emitted == expected, event
        assert replay == self.state


class WorkConservingMachine(RoutingMachine):
    """Also: waiting work never waits while an agent could take it.

    After every step, for each non-empty department/channel queue, no member of
    the department is online with load below a capacity > 0 for that channel
    ("when capacity frees or an agent comes online, waiting work is taken").
    """

    @invariant()
    def nobody_idle_while_work_waits(self) -> None:
        for (dept_id, channel), entries in self.queues().items():
            if not entries:
                continue
            for agent_id in self.config.department_agents[dept_id]:
                free = self.capacity(agent_id, channel) - self.load(agent_id, channel)
                idle = self.presence.get(agent_id) == "online" and free > 0
                missed_all = all(
                    agent_id in ticket.missed_by
                    for e in entries
                    if (ticket := self.state.tickets.get(state_key(TENANT, e.ticket_id)))
                )
                assert not idle or missed_all, (
                    f"{[e.ticket_id for e in entries]} wait in {dept_id}/{channel} while "
                    f"{agent_id} is online with {free} free"
                )


SETTINGS = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

RoutingMachine.TestCase.settings = SETTINGS
# Shrinking this machine's failures takes minutes (the config and the steps shrink
# together), so it reports the failing run as generated; the minimal reproduction of
# each failure it is known to find is a plain test in test_transitions.py.
WorkConservingMachine.TestCase.settings = settings(
    SETTINGS,
    max_examples=200,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

TestRouting = RoutingMachine.TestCase
TestWorkConserving = WorkConservingMachine.TestCase
