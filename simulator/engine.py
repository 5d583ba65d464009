"""A discrete-event run of the same pure core the worker uses, on a virtual clock.

The engine keeps one heap of timed, typed items. Each item is either a record
the assignment stage consumes (``TicketRouted``, ``AgentPresenceChanged``,
``AgentCapacityChanged``, ``WorkFinished``), handed to the core function that
handles it, or a simulator action (a customer arrives, a customer gives up, an
inbound message to route by the rules). What the core emits is dispatched by
type too: a ``TicketAssigned`` schedules the agent's ``WorkFinished``. Traffic,
shifts and a replayed log are *sources*: iterators of (time, rank, item) of
which only the next item sits in the heap, so the heap stays small.

Every random draw comes from generators seeded by the run's seed and the
arrival stream, or from a hash of the ticket and agent, never from the
strategy's choices: two strategies compared on one seed see exactly the same
customers with the same handle times and patience.

Offers: a ``TicketOffered`` makes each simulated agent it rings for answer
after their accept delay (``OfferAccepted``, or ``OfferDeclined`` with their
decline probability, drawn from the ticket and agent, not from order), and a
``ClockTicked`` is fed exactly at the offer's ``expires_at`` (and at each wait
threshold of waiting work: escalation, ``queue_wait`` rules, skill relaxation)
if the work is still ringing or waiting then, so timeouts and escalations fire
when they fall due without ticking every second. A replayed log that holds the
worker's own ``ClockTicked`` records is replayed with those instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import math
import random
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from agents_state import (
    MemoryState,
    TicketState,
    on_agent_event,
    on_clock_ticked,
    on_ticket_routed,
    withdraw_ticket,
)
from agents_state.index import worth_indexing
from agents_state.model import KEY_SEP, builder
from agents_state.transitions import PlainState, Transition
from schemas.codec import encode
from schemas.events import (
    AgentCapacityChanged,
    AgentPresenceChanged,
    Channel,
    ClockTicked,
    OfferAccepted,
    OfferDeclined,
    OfferMissed,
    TicketAssigned,
    TicketEscalated,
    TicketOffered,
    TicketQueued,
    TicketRouted,
    TicketTaken,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import TenantConfig
from simulator.scenario import AgentPlan, Scenario, simple_scenario

TENANT = "sim"
DEPT = "desk"

#: Answers to offers, and the agent events besides presence and capacity changes.
OfferAnswer = (OfferAccepted, OfferDeclined)
#: Agent events that change when and how much an agent may work (their online time).
AVAILABILITY = (AgentPresenceChanged, AgentCapacityChanged)
AGENT_ANSWERS: tuple[type, ...] = (OfferAccepted, OfferDeclined, TicketTaken)

#: Order of items due at the same instant: presence first (an agent going off shift
#: at 08:00 gets nothing at 08:00), then freed capacity, then new work, then leavers.
#: A deadline falls before an answer at the same instant (the offer has run out).
RANK_PRESENCE = 0
RANK_DEADLINE = 0
RANK_FINISH = 1
RANK_ANSWER = 1
RANK_ARRIVAL = 2
RANK_LEAVE = 3
#: Wait thresholds are crossed strictly after they are reached: tick just past them.
PAST = 1e-6

#: How long after the end of traffic waiting and open work may still be served.
DRAIN_HOURS = 24.0

Item = Any
Source = Iterator[tuple[float, int, Item]]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A generated customer: the routed ticket, and what the simulation draws for it."""

    routed: TicketRouted
    handle_s: float
    patience_s: float | None


@dataclass(frozen=True, slots=True)
class CustomerLeaves:
    ticket_id: str


@dataclass(frozen=True, slots=True)
class Deadline:
    """Something of one ticket may fall due (an offer runs out, a wait threshold)."""

    at: float
    ticket_id: str
    status: str


@dataclass(slots=True)
class Tally:
    """Counts of one (department, channel)."""

    offered: int = 0
    assigned: int = 0
    abandoned: int = 0
    unroutable: int = 0
    #: Assigned work that waited in a queue (nobody could take it when it came).
    queued: int = 0
    missed_offers: int = 0
    #: Seconds from arrival to an agent answering (queue wait + accept delay).
    waits: list[float] = field(default_factory=list)
    #: Seconds of agent capacity held by work this department's agents took (escalated
    #: work counts where it was taken), up to the end of the run.
    busy_s: float = 0.0
    escalated: int = 0


@dataclass(slots=True)
class _Ticket:
    tally: Tally
    key: tuple[str, str]
    #: The tally of the department whose agent holds the work (its own, or where it
    #: escalated to).
    held_by: Tally
    arrived: float
    handle_s: float | None
    assigned_at: float = -1.0
    #: When an agent was first offered or given the work; -1 = not yet.
    reached_at: float = -1.0
    #: Offers made so far (each one's answer is drawn from the ticket, agent and number).
    offers: int = 0
    #: When the latest offer started ringing: the slot is held from then.
    offered_at: float = -1.0
    #: Replay: how long the work took once assigned, when its finish came before it was.
    deferred_s: float | None = None
    #: Replay: the recorded answer that came while the work was not ringing yet.
    pending_answer: type[OfferAccepted | OfferDeclined] | None = None


@dataclass
class Outcome:
    """What happened, per (department, channel), per agent, and how long it took."""

    config: TenantConfig
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    #: (agent, department, channel) -> work assigned.
    work: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (agent, channel) -> capacity-seconds online (capacity x time), up to the end.
    available_s: dict[tuple[str, str], float] = field(default_factory=dict)
    #: Simulated seconds the figures cover.
    end: float = 0.0
    #: Events the core handled (routed tickets, agent events, withdrawals, ticks).
    events: int = 0
    #: Records emitted by the core.
    outputs: int = 0
    #: Replay: input records that could not be applied, as "line N: reason".
    rejected: list[str] = field(default_factory=list)
    #: With ``trace``: every assignment, and each ticket's arrival time.
    assignments: list[TicketAssigned] = field(default_factory=list)
    arrived: dict[str, float] = field(default_factory=dict)
    #: With ``trace``: (second, agent, presence) as applied.
    presence: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def waited(self) -> dict[str, float]:
        """With ``trace``: ticket -> seconds from arrival to assignment."""
        return {a.ticket_id: a.assigned_at - self.arrived[a.ticket_id] for a in self.assignments}

    @property
    def work_per_agent(self) -> dict[str, int]:
        out = dict.fromkeys(self.config.agents, 0)
        for (agent, _, _), n in self.work.items():
            out[agent] = out.get(agent, 0) + n
        return out


# Records and items built for every customer, as their classes build them (checks
# included), at half the cost of a frozen dataclass's own ``__init__``.
_ticket_routed, _accepted, _declined, _work_finished, _clock_ticked = map(
    builder, (TicketRouted, OfferAccepted, OfferDeclined, WorkFinished, ClockTicked)
)
_arrival, _leaves, _deadline = map(builder, (Arrival, CustomerLeaves, Deadline))
_new_ticket = builder(_Ticket)


def offer_draw(seed: int, ticket_id: str, agent_id: str, attempt: int = 0, what: str = "") -> float:
    """A uniform [0, 1) for one offer, a pure function of who and what (not of order)."""
    digest = hashlib.blake2b(
        f"{seed}\x1f{ticket_id}\x1f{agent_id}\x1f{attempt}\x1f{what}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class Engine:
    """The heap, the clock and the core; fed by sources, read out as an :class:`Outcome`."""

    def __init__(
        self,
        config: TenantConfig,
        *,
        horizon: float = math.inf,
        seed: int = 1,
        plans: dict[str, AgentPlan] | None = None,
        generated: bool = True,
        trace: bool = False,
        record: IO[bytes] | None = None,
        ticks: bool = True,
        index: bool | None = None,
    ) -> None:
        self.config = config
        self.tenant = config.tenant
        self.horizon = horizon
        self.seed = seed
        self.plans = plans or {}
        #: Generated traffic: finished work leaves the state (as expired tickets would)
        #: and each assignment schedules its finish. A replay keeps everything.
        self.generated = generated
        self.trace = trace
        self.record = record
        if index is None:
            # Large departments from the index of available agents (``MemoryState``),
            # small ones by the core's scan, as the worker does (``worth_indexing``).
            index = worth_indexing(config)
        self.state: MemoryState | PlainState = MemoryState() if index else PlainState()
        # Only a traced run keeps what the core emits; nothing else reads explanations.
        self.state.explain = trace
        self.out = Outcome(config)
        self.now = 0.0
        self.heap: list[tuple[float, int, int, Item, Source | None]] = []
        self.seq = 0
        self.tickets: dict[str, _Ticket] = {}
        self.outstanding = 0
        self._online: dict[str, tuple[float, dict[str, int]]] = {}
        #: Feed ClockTicked at deadlines (off when a replayed log brings its own ticks).
        self.ticks = ticks
        self._last_tick = -math.inf
        self._thresholds: dict[tuple[str, str], tuple[float, ...]] = {}
        self.handlers: dict[type, Callable[[Any, float], None]] = {
            Arrival: self._arrival,
            CustomerLeaves: self._leaves,
            Deadline: self._deadline,
            TicketRouted: self._routed,
            AgentPresenceChanged: self._agent_event,
            AgentCapacityChanged: self._agent_event,
            WorkFinished: self._finished,
            ClockTicked: self._tick,
            **dict.fromkeys(AGENT_ANSWERS, self._agent_event),
        }
        self.outputs: dict[type, Callable[[Any, float], None]] = {
            TicketAssigned: self._assigned,
            TicketQueued: self._queued,
            TicketUnroutable: self._unroutable,
            TicketOffered: self._offered,
            OfferMissed: self._missed,
            TicketEscalated: self._escalated,
        }

    # -- scheduling -------------------------------------------------------------------

    def push(self, at: float, rank: int, item: Item, source: Source | None = None) -> None:
        heapq.heappush(self.heap, (at, rank, self.seq, item, source))
        self.seq += 1

    def add_source(self, source: Source) -> None:
        first = next(source, None)
        if first is not None:
            self.push(first[0], first[1], first[2], source)

    def run(self) -> Outcome:
        """Dispatch everything due; a generated run drains until work is done or a day passes."""
        heap, pop, push = self.heap, heapq.heappop, heapq.heappush
        handlers = self.handlers
        horizon = self.horizon
        stop = horizon + DRAIN_HOURS * 3600.0 if self.generated else math.inf
        now = self.now
        while heap:
            at, _rank, _, item, source = pop(heap)
            if at > horizon and (self.outstanding == 0 or at > stop):
                break
            if at > now:
                self.now = now = at
            handlers[type(item)](item, now)
            if source is not None:
                nxt = next(source, None)
                if nxt is not None:
                    push(heap, (nxt[0], nxt[1], self.seq, nxt[2], source))
                    self.seq += 1
        end = min(self.now, horizon) if self.generated else self.now
        self._close(end)
        return self.out

    def _close(self, end: float) -> None:
        self.out.end = end
        for agent_id in list(self._online):
            self._account(agent_id, end, None)
        for t in self.tickets.values():
            if t.assigned_at >= 0:
                t.held_by.busy_s += max(0.0, end - t.assigned_at)
                t.assigned_at = -1.0

    # -- core calls -------------------------------------------------------------------

    def _emit(self, t: Transition, now: float) -> None:
        out = self.out
        out.events += 1
        self.state.apply(t)
        emitted = t.emitted
        out.outputs += len(emitted)
        outputs = self.outputs
        for e in emitted:
            outputs.get(type(e), _ignore)(e, now)

    def _tally(self, dept: str, channel: str) -> Tally:
        tally = self.out.tallies.get((dept, channel))
        if tally is None:
            tally = self.out.tallies[(dept, channel)] = Tally()
        return tally

    def _arrival(self, a: Arrival, now: float) -> None:
        r = a.routed
        self._register(r, now, a.handle_s)
        if a.patience_s is not None:
            self.push(now + a.patience_s, RANK_LEAVE, _leaves(r.ticket_id))
        self.route(r, now)

    def _register(self, r: TicketRouted, now: float, handle_s: float | None) -> None:
        key = (r.department, r.channel)
        tally = self.out.tallies.get(key) or self._tally(*key)
        tally.offered += 1
        self.tickets[r.ticket_id] = _new_ticket(tally, key, tally, now, handle_s)
        self.outstanding += 1
        if self.trace:
            self.out.arrived[r.ticket_id] = now

    def _routed(self, r: TicketRouted, now: float) -> None:
        self.route(r, now)

    def route(self, r: TicketRouted, now: float, *, recorded: bool = True) -> None:
        """Hand a routed ticket to the core (``recorded``: write it to the record too)."""
        if recorded and self.record is not None:
            self.record.write(encode(r) + b"\n")
        t = on_ticket_routed(self.state, self.config, r, now)
        if not t.duplicate and r.ticket_id not in self.tickets:
            self._register(r, now, None)
        self._emit(t, now)

    def _leaves(self, c: CustomerLeaves, now: float) -> None:
        ticket = self.tickets.get(c.ticket_id)
        if ticket is None or ticket.assigned_at >= 0:
            return
        t = withdraw_ticket(self.state, self.config, c.ticket_id, now)
        self._emit(t, now)
        if not t.noop:
            ticket.tally.abandoned += 1
            self._done(c.ticket_id)

    def _done(self, ticket_id: str) -> None:
        self.outstanding -= 1
        if self.generated:
            del self.tickets[ticket_id]
            self.state.tickets.pop(f"{self.tenant}{KEY_SEP}{ticket_id}", None)

    def _agent_event(self, ev: Any, now: float) -> None:
        """Presence and capacity changes, answers to offers, pulled work."""
        if not self.generated and isinstance(ev, OfferAnswer):
            ev = self._readdressed_answer(ev, now)
        t = self._to_core(ev, now)
        if t is None:
            return
        changes = isinstance(ev, AVAILABILITY)
        if changes and not t.duplicate and not t.noop:
            self._account(ev.agent_id, now, t)
            if self.trace and isinstance(ev, AgentPresenceChanged):
                self.out.presence.append((now, ev.agent_id, ev.presence))
        self._emit(t, now)
        if self.generated:  # generated ids are never sent twice: keep the state small
            self.state.seen.pop(f"{self.tenant}{KEY_SEP}{ev.event_id}", None)

    def _to_core(self, ev: Any, now: float) -> Transition | None:
        """One agent event through the core; None (and reported) when it is rejected."""
        if self.record is not None:
            self.record.write(encode(ev) + b"\n")
        t = on_agent_event(self.state, self.config, ev, now)
        if t.rejected:
            self.out.rejected.append(f"{type(ev).__name__} {ev.event_id}: {t.rejected}")
            self.out.events += 1
            return None
        return t

    def _tick(self, ev: ClockTicked, now: float) -> None:
        if self.record is not None:
            self.record.write(encode(ev) + b"\n")
        self._last_tick = now
        self._emit(on_clock_ticked(self.state, self.config, ev, now), now)

    def _deadline(self, d: Deadline, now: float) -> None:
        """Tick the core's clock if the ticket is still ringing or waiting (and the clock
        was not ticked at this instant already): nothing is ticked for nothing."""
        held = self.state.tickets.get(f"{self.tenant}{KEY_SEP}{d.ticket_id}")
        if held is not None and held.status == d.status and now > self._last_tick:
            self._tick(_clock_ticked(self.tenant, now), now)

    def _at_deadline(self, at: float, ticket_id: str, status: str) -> None:
        if self.ticks:
            self.push(at, RANK_DEADLINE, _deadline(at, ticket_id, status))

    def _account(self, agent_id: str, now: float, t: Transition | None) -> None:
        """Close the agent's running online interval; open one if ``t`` leaves them online."""
        upto = min(now, self.horizon)
        running = self._online.pop(agent_id, None)
        if running is not None:
            since, caps = running
            for channel, n in caps.items():
                k = (agent_id, channel)
                self.out.available_s[k] = self.out.available_s.get(k, 0.0) + n * (upto - since)
        if t is None:
            return
        agent = t.agents.get(f"{self.tenant}{KEY_SEP}{agent_id}")
        configured = self.config.agents.get(agent_id)
        if agent is None or configured is None or agent.presence != "online":
            return
        caps = {**configured.capacity, **agent.capacity_override}
        self._online[agent_id] = (upto, {c: n for c, n in caps.items() if n > 0})

    def _finished(self, ev: WorkFinished, now: float) -> None:
        ticket = self.tickets.get(ev.ticket_id)
        if not self.generated and ticket is not None:
            ev = self._readdressed(ev, ticket, now)
        t = self._to_core(ev, now)
        if t is None:
            return
        self._emit(t, now)
        if t.duplicate or t.noop or ticket is None or ticket.assigned_at < 0:
            return
        ticket.held_by.busy_s += max(0.0, min(now, self.horizon) - ticket.assigned_at)
        ticket.assigned_at = -1.0
        self._done(ev.ticket_id)
        if self.generated:
            self.state.seen.pop(f"{self.tenant}{KEY_SEP}{ev.event_id}", None)

    def _readdressed(self, ev: WorkFinished, ticket: _Ticket, now: float) -> WorkFinished:
        """Replay under another strategy: the work ends for whoever holds it now, or,
        still waiting, as long after it is assigned as it took in the recording."""
        held = self.state.tickets.get(f"{self.tenant}{KEY_SEP}{ev.ticket_id}")
        if held is None:
            return ev
        if held.status == "assigned" and held.agent_id != ev.agent_id:
            return WorkFinished(ev.event_id, ev.tenant, held.agent_id, ev.ticket_id, ev.occurred_at)
        if held.status in ("queued", "offered"):
            ticket.deferred_s = max(0.0, now - ticket.arrived)
        return ev

    def _readdressed_answer(
        self, ev: OfferAccepted | OfferDeclined, now: float
    ) -> OfferAccepted | OfferDeclined:
        """Replay under another strategy: a recorded answer to an offer is the answer of
        whoever rings for the work now, or, not ringing yet, of the next one to."""
        held = self.state.tickets.get(f"{self.tenant}{KEY_SEP}{ev.ticket_id}")
        ticket = self.tickets.get(ev.ticket_id)
        if held is None or ticket is None:
            return ev
        ringing = held.offered_to
        if held.status == "offered" and ringing and ev.agent_id not in ringing:
            return dataclasses.replace(ev, agent_id=ringing[0])
        if held.status == "queued":
            ticket.pending_answer = type(ev)
        return ev

    # -- what the core emitted ----------------------------------------------------------

    def _assigned(self, e: TicketAssigned, now: float) -> None:
        ticket = self.tickets.get(e.ticket_id)
        if ticket is None:
            return
        offered = ticket.reached_at >= 0
        ticket.assigned_at = ticket.offered_at if offered else now
        tally = ticket.tally
        tally.assigned += 1
        if not offered:
            ticket.reached_at = now
        if ticket.reached_at > ticket.arrived:
            tally.queued += 1
        plan = self.plans.get(e.agent_id)
        answered = now
        if not offered and plan is not None and plan.accept_delay.seconds > 0:
            # given directly (no offer): the agent picks the work up after their delay
            u = offer_draw(self.seed, e.ticket_id, e.agent_id)
            answered += plan.accept_delay.at(u)
        tally.waits.append(answered - ticket.arrived)
        # agents' figures (work, occupancy) go to the department whose agent took it
        k = (e.agent_id, e.department, e.channel)
        self.out.work[k] = self.out.work.get(k, 0) + 1
        ticket.held_by = tally if e.department == ticket.key[0] else self._tally(*k[1:])
        if self.trace:
            self.out.assignments.append(e)
        handle, event_id = ticket.handle_s, f"f-{e.ticket_id}"
        if handle is None and ticket.deferred_s is not None:
            # the recorded finish was seen (and changed nothing): this one needs its own id
            handle, event_id = ticket.deferred_s, f"f-{e.ticket_id}-deferred"
        if handle is not None:
            finished = _work_finished(
                event_id, self.tenant, e.agent_id, e.ticket_id, answered + handle
            )
            self.push(answered + handle, RANK_FINISH, finished)

    def _unroutable(self, e: TicketUnroutable, now: float) -> None:
        ticket = self.tickets.get(e.ticket_id)
        if ticket is not None:
            ticket.tally.unroutable += 1
            self._done(e.ticket_id)

    def _offered(self, e: TicketOffered, now: float) -> None:
        """Ringing: each simulated agent answers after their delay; the offer's deadline
        is ticked unless an answer that ends it surely comes first."""
        ticket = self.tickets.get(e.ticket_id)
        if ticket is None:
            return
        if ticket.reached_at < 0:
            ticket.reached_at = now
        ticket.offered_at = now
        if not self.generated:  # a replayed log holds the agents' own answers
            self._at_deadline(e.expires_at, e.ticket_id, "offered")
            pending = ticket.pending_answer
            if pending is not None:
                ticket.pending_answer = None
                ev = pending(
                    f"o-{e.ticket_id}-r{now}", self.tenant, e.agent_ids[0], e.ticket_id, now
                )
                self.push(now, RANK_ANSWER, ev)
            return
        answered_in_time = False
        for agent_id in e.agent_ids:
            n = ticket.offers
            ticket.offers += 1
            plan = self.plans.get(agent_id)
            delay, declines = 0.0, False
            if plan is not None:
                delay = plan.accept_delay.seconds
                if plan.accept_delay.kind != "fixed":
                    delay = plan.accept_delay.at(offer_draw(self.seed, e.ticket_id, agent_id, n))
                p = plan.decline_probability
                declines = p > 0 and offer_draw(self.seed, e.ticket_id, agent_id, n, "no") < p
            at = now + delay
            answer = _declined if declines else _accepted
            self.push(
                at,
                RANK_ANSWER,
                answer(f"o-{e.ticket_id}-{n}", self.tenant, agent_id, e.ticket_id, at),
            )
            answered_in_time |= not declines and at < e.expires_at
        # One agent ringing who accepts in time: the offer ends by their answer, or, if
        # they go away first, the core moves it on (a new offer with its own deadline).
        if not (answered_in_time and len(e.agent_ids) == 1):
            self._at_deadline(e.expires_at, e.ticket_id, "offered")

    def _missed(self, e: OfferMissed, now: float) -> None:
        ticket = self.tickets.get(e.ticket_id)
        if ticket is not None:
            ticket.tally.missed_offers += 1

    def _queued(self, e: TicketQueued, now: float) -> None:
        """Waiting work: tick when it crosses a wait threshold of its department."""
        if self.ticks:
            self._wait_deadlines(e.ticket_id, e.department, e.channel, now)

    def _escalated(self, e: TicketEscalated, now: float) -> None:
        ticket = self.tickets.get(e.ticket_id)
        if ticket is not None:
            ticket.tally.escalated += 1
        if self.ticks:
            self._wait_deadlines(e.ticket_id, e.to_department, e.channel, now)

    def _wait_deadlines(self, ticket_id: str, dept_id: str, channel: str, now: float) -> None:
        held = self.state.tickets.get(f"{self.tenant}{KEY_SEP}{ticket_id}")
        since = held.enqueued_at if held is not None else now
        for threshold in self._thresholds_of(dept_id, channel, held):
            if since + threshold > now:
                self._at_deadline(since + threshold + PAST, ticket_id, "queued")

    def _thresholds_of(
        self, dept_id: str, channel: str, held: TicketState | None
    ) -> tuple[float, ...]:
        dept = self.config.departments.get(dept_id)
        if dept is None:
            return ()
        found = self._thresholds.get((dept_id, channel))
        if found is None:
            waits = set(self.config.wait_thresholds)
            escalate = dept.escalate_after_s.get(channel, 0.0)
            if escalate:
                waits.add(escalate)
            found = self._thresholds[(dept_id, channel)] = tuple(sorted(waits))
        if held is not None and held.optional_skills and dept.relax_after_s:
            return (*found, dept.relax_after_s)
        return found


def _ignore(e: Any, now: float) -> None:
    return None


# -- generated traffic ----------------------------------------------------------------


def _arrivals(scenario: Scenario, index: int) -> Source:
    """One stream's customers: times, handle times and patience from its own generator."""
    stream = scenario.arrivals[index]
    rng = random.Random(f"{scenario.seed}:arrivals:{index}")
    handle = scenario.handle[stream.channel]
    patience = scenario.patience.get(stream.channel)
    tenant, version = scenario.tenant, scenario.config.version
    dept, channel, priority = stream.department, stream.channel, stream.priority
    prefix = "t" if len(scenario.arrivals) == 1 else f"s{index}."
    for n, at in enumerate(stream.times(rng, scenario.hours * 3600.0)):
        tid = f"{prefix}{n}"
        routed = _ticket_routed(
            tid, tenant, channel, "sim", tid, dept, "sim", version, priority, at, at, at
        )
        waits = patience.draw(rng) if patience is not None else None
        yield at, RANK_ARRIVAL, _arrival(routed, handle.draw(rng), waits)


def _shifts(scenario: Scenario, plan: AgentPlan) -> Source:
    tenant, agent = scenario.tenant, plan.agent_id
    for n, (at, presence) in enumerate(plan.presence_changes()):
        if at == math.inf:
            return
        yield (
            at,
            RANK_PRESENCE,
            AgentPresenceChanged(f"p-{agent}-{n}", tenant, agent, presence, at),
        )


def run_scenario(
    scenario: Scenario,
    *,
    trace: bool = False,
    record: IO[bytes] | None = None,
    departments: Collection[str] | None = None,
    index: bool | None = None,
) -> Outcome:
    """Run ``scenario``; with ``departments`` (a routing domain, see ``routing_domains``)
    only their agents and traffic, the same figures as in a run of everything.
    ``index``: serve from the core's agent index (default: for large departments)."""
    engine = Engine(
        scenario.config,
        horizon=scenario.hours * 3600.0,
        seed=scenario.seed,
        plans=scenario.plans,
        trace=trace,
        record=record,
        index=index,
    )
    first = routing_domains(scenario.config)[0]
    for agent_id, plan in scenario.plans.items():
        member = scenario.config.agents[agent_id].departments
        if departments is None or set(member or first) & set(departments):
            engine.add_source(_shifts(scenario, plan))
    for i, stream in enumerate(scenario.arrivals):
        if departments is None or stream.department in departments:
            engine.add_source(_arrivals(scenario, i))
    return engine.run()


def routing_domains(config: TenantConfig) -> list[tuple[str, ...]]:
    """Departments grouped so that no agent works in two groups: each group's state
    and decisions are independent of the others' (a routing domain), so the groups
    can run apart, side by side."""
    parent = {d: d for d in config.departments}

    def root(d: str) -> str:
        while parent[d] != d:
            d = parent[d]
        return d

    for agent in config.agents.values():
        member = [d for d in agent.departments if d in parent]
        for d in member[1:]:
            parent[root(d)] = root(member[0])
    groups: dict[str, list[str]] = {}
    for d in config.departments:
        groups.setdefault(root(d), []).append(d)
    return [tuple(g) for g in groups.values()]


def merged(parts: list[Outcome]) -> Outcome:
    """One outcome of runs of disjoint routing domains."""
    out = Outcome(parts[0].config)
    for part in parts:
        out.tallies.update(part.tallies)
        out.work.update(part.work)
        out.available_s.update(part.available_s)
        out.end = max(out.end, part.end)
        out.events += part.events
        out.outputs += part.outputs
        out.rejected += part.rejected
        out.assignments += part.assignments
        out.arrived.update(part.arrived)
        out.presence += part.presence
    out.assignments.sort(key=lambda a: a.assigned_at)
    out.presence.sort()
    return out


# -- the simple case, as the first version had it ---------------------------------------


@dataclass(frozen=True, slots=True)
class SimConfig:
    channel: Channel = "call"
    agents: int = 7
    capacity: int = 1
    arrivals_per_hour: float = 100.0
    mean_handle_seconds: float = 180.0
    hours: float = 1000.0
    strategy: str = "least-load"
    seed: int = 1
    #: Customers leave after this long in the queue; None = they wait forever.
    patience_seconds: float | None = None
    accept_delay_seconds: float = 0.0

    def scenario(self) -> Scenario:
        return simple_scenario(
            channel=self.channel,
            agents=self.agents,
            capacity=self.capacity,
            arrivals_per_hour=self.arrivals_per_hour,
            mean_handle_seconds=self.mean_handle_seconds,
            hours=self.hours,
            strategy=self.strategy,
            seed=self.seed,
            patience_seconds=self.patience_seconds,
            accept_delay_seconds=self.accept_delay_seconds,
            tenant=TENANT,
            department=DEPT,
        )


def tenant_config(cfg: SimConfig) -> TenantConfig:
    return cfg.scenario().config


def simulate(cfg: SimConfig | Scenario, *, trace: bool = False) -> Outcome:
    return run_scenario(cfg.scenario() if isinstance(cfg, SimConfig) else cfg, trace=trace)
