"""The assignment stage's core: ``(state, config, event, now) -> Transition``.

Pure and synchronous. A transition lists the rows to write and the events to
send; the Faust shell applies them, the tests and the simulator apply them to
dicts. Every handler first checks the ticket or event id against state of the
same partition, so a redelivered event yields an empty transition: this is what
makes at-least-once delivery safe without broker transactions.

Time comes in only as ``now`` (the stage's clock at the event's position in the
stream): offers expire and waiting work escalates on ``ClockTicked``, so a
replay decides every timeout exactly as the first pass did.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from agents_state.index import Pool, RouteIndex, TenantIndex
from agents_state.model import (
    KEY_SEP,
    AgentState,
    DepartmentState,
    OfferDeadline,
    QueueEntry,
    TicketState,
    builder,
    replace_agent,
    replace_department,
    replace_ticket,
    replacer,
)
from agents_state.queues import (
    NO_LINE,
    QueueIndex,
    TenantQueues,
    Waiting,
    entry_of,
    tenant_rows,
)
from rules import decide as decide_rules
from rules import facts_for
from schemas.events import (
    AgentCapacityChanged,
    AgentEvent,
    AgentPresenceChanged,
    ClockTicked,
    Customer,
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
    TicketTaken,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import AgentConfig, TenantConfig
from strategies import RING_ALL, Candidate, Pick, PickContext, pick

#: At most this many candidates / exclusions are listed by name in an explanation.
EXPLAIN_LIMIT = 10

V = TypeVar("V")


class Readable(Protocol[V]):  # type: ignore[misc]
    def get(self, key: str, default: None = None) -> V | None: ...


class StateView(Protocol):
    """Read access to the four state tables (Faust tables or plain dicts), and to the
    waiting work derived from the ticket rows."""

    @property
    def agents(self) -> Readable[AgentState]: ...
    @property
    def departments(self) -> Readable[DepartmentState]: ...
    @property
    def tickets(self) -> Readable[TicketState]: ...
    @property
    def seen(self) -> Readable[float]: ...
    def waiting(self, tenant: str) -> TenantQueues:
        """The tenant's queues and pull lists as the ticket rows say (see
        :mod:`agents_state.queues`): a transition's ticket writes move them as it is
        decided, so they must be those of the rows when the next one starts."""
        ...

    def agent_index(self, config: TenantConfig) -> TenantIndex | None:
        """The tenant's pools of who may take work (:mod:`agents_state.index`), as the
        agent rows say, or None: the core then scans the agents for each decision."""
        ...


@dataclass
class PlainState:
    """The four state tables as dicts, and the waiting work derived from the ticket
    rows: the core scans every agent (small departments in the simulator; the
    reference the agent index is tested against).

    Rows are written by :meth:`apply`; a ticket row that waits must not be written
    or removed behind its back (finished work may be: it waits nowhere)."""

    agents: dict[str, AgentState] = field(default_factory=dict)
    departments: dict[str, DepartmentState] = field(default_factory=dict)
    tickets: dict[str, TicketState] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    #: Who waits where, per tenant: derived from ``tickets``.
    queue_index: QueueIndex = field(default_factory=QueueIndex, compare=False, repr=False)
    #: Decisions carry their explanation. The simulator turns it off when nobody reads
    #: the events (building it cost it a sixteenth of its time); the worker's state
    #: has no such switch, so everything it emits is explained.
    explain: bool = field(default=True, compare=False, repr=False)

    def apply(self, t: Transition) -> None:
        # Most transitions leave a table or two alone: no call for those.
        if t.agents:
            self.agents.update(t.agents)
        if t.departments:
            self.departments.update(t.departments)
        if t.seen:
            self.seen.update(t.seen)
        if t.tickets:
            self.tickets.update(t.tickets)
            # Usually decided on this state: its ticket writes are what the lines hold.
            for found in self.queue_index.tenants.values():
                if found.decided is t:
                    found.pending.clear()
                    found.decided = None
                    return
            self.queue_index.applied(t, t.tickets)

    def waiting(self, tenant: str) -> TenantQueues:
        found = self.queue_index.tenants.get(tenant)
        if found is not None and not found.pending:
            return found  # every transition since was applied: the lines are the rows'
        tickets = self.tickets
        return self.queue_index.for_tenant(
            tenant, lambda: tenant_rows(tickets.items(), tenant), tickets.get
        )

    def agent_index(self, config: TenantConfig) -> TenantIndex | None:
        return None


@dataclass
class MemoryState(PlainState):
    """Dict-backed state for tests and the offline simulator, with the agent index."""

    #: Who may take work, per department and channel: derived from ``agents``.
    index: RouteIndex = field(default_factory=RouteIndex, compare=False, repr=False)

    def apply(self, t: Transition) -> None:
        PlainState.apply(self, t)
        if t.agents and self.index.tenants:
            self.index.applied(t.agents)

    def agent_index(self, config: TenantConfig) -> TenantIndex | None:
        return self.index.settled(config, self.agents.get)


def waiting_work(
    state: StateView, tenant: str, dept_id: str, channel: str, *, pull: bool = False
) -> tuple[QueueEntry, ...]:
    """A department's queue (or pull list) for a channel, in service order: for views,
    gauges and tests (the core reads the line itself)."""
    return tuple(state.waiting(tenant).get(dept_id, channel, pull))


@dataclass(slots=True)
class Transition:
    agents: dict[str, AgentState] = field(default_factory=dict)
    departments: dict[str, DepartmentState] = field(default_factory=dict)
    tickets: dict[str, TicketState] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    emitted: list[Any] = field(default_factory=list)
    #: The event was applied before (same ticket or event id): nothing to do.
    duplicate: bool = False
    #: Why a well-formed event cannot be applied (it goes to the dead-letter topic).
    rejected: str = ""
    #: Why an event changed nothing although it was new (stale finish, ...).
    noop: str = ""


def _new_transition() -> Transition:
    """``Transition()``, for the one every event starts: its tables are fresh literals,
    not the default factories the dataclass ``__init__`` calls one by one."""
    out: Transition = _new(Transition)
    out.agents, out.departments, out.tickets, out.seen, out.emitted = {}, {}, {}, {}, []
    out.duplicate, out.rejected, out.noop = False, "", ""
    return out


_new = object.__new__


class _Tx:
    """Reads through the transition's own pending writes, so one event sees its effects."""

    __slots__ = (
        "agents_in",
        "agents_out",
        "config",
        "departments_in",
        "departments_out",
        "explain",
        "index",
        "out",
        "prefix",
        "scanned",
        "tenant",
        "tickets_in",
        "tickets_out",
        "waiting",
    )

    def __init__(self, state: StateView, config: TenantConfig) -> None:
        self.config = config
        self.explain: bool = getattr(state, "explain", True)
        self.tenant = config.tenant
        #: Every key of this tenant starts so (``state_key`` without a call per read).
        self.prefix = config.tenant + KEY_SEP
        self.out = out = _new_transition()
        # The tables, looked up once: reads and writes happen a dozen times per event.
        self.agents_out, self.agents_in = out.agents, state.agents
        self.departments_out, self.departments_in = out.departments, state.departments
        self.tickets_out, self.tickets_in = out.tickets, state.tickets
        #: The tenant's lines: they follow this transition's ticket writes.
        self.waiting = state.waiting(config.tenant)
        self.waiting.decided = self.out
        #: Who may take work, if the state keeps an index of it (else: scans).
        self.index = state.agent_index(config)
        #: (department, channel) -> its scan for work that asks nothing of its own, as of
        #: the last agent write.
        self.scanned: dict[tuple[str, str], Eligible] = {}

    def agent(self, agent_id: str) -> AgentState:
        k = self.prefix + agent_id
        found = self.agents_out.get(k) or self.agents_in.get(k)
        return found if found is not None else AgentState(agent_id)

    def put_agent(self, agent: AgentState) -> None:
        self.agents_out[self.prefix + agent.agent_id] = agent
        if self.scanned:
            self.scanned.clear()
        if self.index is not None:
            self.index.pending.add(agent.agent_id)
            self.index.update(agent)

    def department(self, dept_id: str) -> DepartmentState:
        k = self.prefix + dept_id
        found = self.departments_out.get(k) or self.departments_in.get(k)
        return found if found is not None else DepartmentState()

    def put_department(self, dept_id: str, dept: DepartmentState) -> None:
        self.departments_out[self.prefix + dept_id] = dept

    def ticket(self, ticket_id: str) -> TicketState | None:
        k = self.prefix + ticket_id
        return self.tickets_out.get(k) or self.tickets_in.get(k)

    def put_ticket(self, ticket: TicketState) -> None:
        """Write the ticket's row; it joins, leaves or moves in its line with it."""
        ticket_id = ticket.ticket_id
        self.tickets_out[self.prefix + ticket_id] = ticket
        waiting = self.waiting
        # Work that neither waits nor waited a moment ago moves no line (most writes).
        if ticket.status == "queued" or ticket_id in waiting.held:
            waiting.pending.add(ticket_id)
            waiting.update(ticket)

    def line(self, dept_id: str, channel: str, pull: bool = False) -> Waiting:
        """A department's queue (or pull list) for a channel, as of this transition."""
        waiting = self.waiting
        lines = (waiting.pulls if pull else waiting.queues).get(dept_id)
        return NO_LINE if lines is None else lines.get(channel, NO_LINE)

    def capacity(self, agent: AgentState, channel: str) -> int:
        if channel in agent.capacity_override:
            return agent.capacity_override[channel]
        configured = self.config.agents.get(agent.agent_id)
        return configured.capacity.get(channel, 0) if configured else 0


# Copies for the writes every routed ticket makes (``replace_*`` for the others).
_ticket_offered = replacer(
    TicketState, "status", "offered_to", "offer_expires_at", "offered_at", "strategy", "updated_at"
)
_ticket_assigned = replacer(
    TicketState, "status", "agent_id", "strategy", "offered_to", "updated_at"
)
_ticket_status = replacer(TicketState, "status", "updated_at")
_agent_given = replacer(AgentState, "offers", "open_work", "last_assigned_at")
_agent_work = replacer(AgentState, "open_work")
_agent_offers = replacer(AgentState, "offers")
_department_offers = replacer(DepartmentState, "offers")
_department_cursors = replacer(DepartmentState, "cursors")
_department_offered = replacer(DepartmentState, "cursors", "offers")
# The records every routed ticket brings, built as their classes do (checks included).
_queued_event, _offered_event, _assigned_event, _missed_event, _withdrawn_event = map(
    builder, (TicketQueued, TicketOffered, TicketAssigned, OfferMissed, OfferWithdrawn)
)
_pick_context = builder(PickContext)
# The rows every routed ticket starts, as their classes build them.
_new_ticket, _new_deadline = builder(TicketState), builder(OfferDeadline)

# -- entry points -------------------------------------------------------------


def on_ticket_routed(
    state: StateView, config: TenantConfig, ev: TicketRouted, now: float
) -> Transition:
    """A routed ticket is assigned or offered, queued behind waiting work, or unroutable."""
    tx = _Tx(state, config)
    if tx.ticket(ev.ticket_id) is not None:
        tx.out.duplicate = True
        return tx.out
    reason = ev.reason
    if not reason and ev.department not in config.departments:
        reason = f"department {ev.department!r} is not in config version {config.version}"
    pull = not reason and (
        ev.leave_unassigned or ev.channel in config.departments[ev.department].pull
    )
    ticket = _new_ticket(
        ev.ticket_id,
        "unroutable" if reason else "queued",
        ev.department,
        ev.channel,
        ev.priority,
        ev.ingested_at,
        now,
        enqueued_at=now,
        source=ev.source,
        tags=tuple(ev.tags),
        skills=dict(ev.skills),
        optional_skills=dict(ev.optional_skills),
        pull=pull,
    )
    if not (reason or pull or ev.preferred_agent) and _served_at_once(tx, ticket, now):
        return tx.out
    tx.put_ticket(ticket)
    if reason:
        tx.out.emitted.append(TicketUnroutable(ev.ticket_id, ev.tenant, ev.channel, reason, now))
        return tx.out
    if pull:
        position = len(tx.line(ev.department, ev.channel, pull=True))
        why = "left unassigned by a rule" if ev.leave_unassigned else "pull mode"
        tx.out.emitted.append(
            _queued_event(
                ev.ticket_id,
                ev.tenant,
                ev.department,
                ev.channel,
                ev.priority,
                position,
                f"{why}: waits until an agent takes it",
                now,
            )
        )
        return tx.out
    preferred_missed = ""
    if ev.preferred_agent:
        preferred_missed = _assign_preferred(
            tx, ev.department, ev.channel, ev.ticket_id, ev.preferred_agent, now
        )
    # Waiting work is served first: the new ticket joined the queue in priority order.
    _drain(tx, (ev.department,), ev.channel, now)
    _say_queued(tx, ev.ticket_id, preferred_missed, now)
    return tx.out


def withdraw_ticket(
    state: StateView, config: TenantConfig, ticket_id: str, now: float
) -> Transition:
    """The customer left before anyone took the work (hung up, closed the chat).

    Only waiting or ringing work can be withdrawn; assigned or finished work is
    the agent's to close, so for it this changes nothing (``noop`` says why).
    """
    tx = _Tx(state, config)
    ticket = tx.ticket(ticket_id)
    if ticket is None or ticket.status not in ("queued", "offered"):
        tx.out.noop = "not waiting"
        return tx.out
    freed: set[str] = set()
    if ticket.status == "offered":
        for agent_id in ticket.offered_to:
            _drop_offer(tx, agent_id, ticket)
            freed.add(agent_id)
            tx.out.emitted.append(
                _withdrawn_event(
                    ticket_id,
                    tx.tenant,
                    ticket.department,
                    ticket.channel,
                    agent_id,
                    "the customer left",
                    now,
                )
            )
        _forget_offer(tx, ticket)
    # Waiting work leaves its line with its row.
    tx.put_ticket(replace_ticket(ticket, status="withdrawn", updated_at=now, offered_to=()))
    _drain_for_agents(tx, freed, ticket.channel, now)
    return tx.out


def on_agent_event(
    state: StateView, config: TenantConfig, ev: AgentEvent, now: float
) -> Transition:
    """Presence, capacity, finished work and answers to offers change load; freed
    capacity takes waiting work."""
    tx = _Tx(state, config)
    seen_key = f"{ev.tenant}{KEY_SEP}{ev.event_id}"
    if state.seen.get(seen_key) is not None:  # this transition has seen nothing yet
        tx.out.duplicate = True
        return tx.out
    configured = config.agents.get(ev.agent_id)
    if configured is None:
        tx.out.rejected = f"agent {ev.agent_id!r} is not in config version {config.version}"
        return tx.out
    tx.out.seen[seen_key] = ev.occurred_at
    freed: Iterable[str] = ()
    # The busiest first: every piece of work brings a finish, every call or chat an answer.
    if isinstance(ev, WorkFinished):
        agent = tx.agent(ev.agent_id)
        channel: str | None = None
        for c, ids in agent.open_work.items():
            if ev.ticket_id in ids:
                channel = c
                break
        if channel is None:
            tx.out.noop = "work not open for this agent"
        else:
            remaining = _without(agent.open_work[channel], ev.ticket_id)
            tx.put_agent(_agent_work(agent, open_work={**agent.open_work, channel: remaining}))
            ticket = tx.ticket(ev.ticket_id)
            if ticket is not None:
                tx.put_ticket(_ticket_status(ticket, status="finished", updated_at=now))
            freed = (channel,)
    elif isinstance(ev, OfferAccepted):
        freed = _accept(tx, ev, now)
    elif isinstance(ev, OfferDeclined):
        freed = _decline(tx, ev, now)
    elif isinstance(ev, TicketTaken):
        _take(tx, ev, now)
    elif isinstance(ev, AgentPresenceChanged):
        agent = tx.agent(ev.agent_id)
        if ev.presence != agent.presence:
            was_online = agent.presence == "online"
            agent = replace_agent(agent, presence=ev.presence, presence_since=ev.occurred_at)
            tx.put_agent(agent)
            if ev.presence == "online":
                channels = {*configured.capacity, *agent.capacity_override}
                freed = sorted(c for c in channels if tx.capacity(agent, c) > 0)
            elif was_online:
                freed = _agent_left(tx, ev.agent_id, ev.presence, now)
        else:
            tx.out.noop = "presence unchanged"
    elif isinstance(ev, AgentCapacityChanged):
        agent = tx.agent(ev.agent_id)
        agent = replace_agent(agent, capacity_override={**agent.capacity_override, **ev.capacity})
        tx.put_agent(agent)
        freed = sorted(ev.capacity)
    depts = configured.departments
    for channel in freed:
        _drain(tx, depts, channel, now)
    return tx.out


def on_clock_ticked(
    state: StateView, config: TenantConfig, ev: ClockTicked, now: float
) -> Transition:
    """Time passed: offers ring out, waiting work escalates, optional skills relax,
    ``queue_wait`` rules fire. Only what fell due since the last tick is touched."""
    tx = _Tx(state, config)
    to_drain: set[tuple[str, str]] = set()
    for dept_id in config.departments:
        dept = tx.department(dept_id)
        if dept.offers and dept.offers[0].expires_at <= now:
            to_drain |= _expire_offers(tx, dept_id, now)
        to_drain |= _sweep_waits(tx, dept_id, now)
    for dept_id, channel in sorted(to_drain):
        _drain(tx, (dept_id,), channel, now)
    if not (tx.out.agents or tx.out.departments or tx.out.tickets or tx.out.emitted):
        tx.out.noop = "nothing due"
    return tx.out


# -- queues ---------------------------------------------------------------------
#
# Work joins and leaves its line with its ticket row (``_Tx.put_ticket``): a row that
# is queued waits, in service order, in its department's queue or pull list.


def _served_at_once(tx: _Tx, ticket: TicketState, now: float) -> bool:
    """A new ticket that asks nothing of its own, with nothing waiting in its line, that
    a free agent may take: served now, as the drain would serve it first, without
    joining its line only to leave it again (most tickets of a desk that keeps up).
    False, having written nothing, when it must wait or go the drain's way."""
    dept_id, channel = ticket.department, ticket.channel
    if ticket.skills or ticket.optional_skills or tx.line(dept_id, channel):
        return False
    free = _candidates(tx, dept_id, channel)
    return bool(free.count()) and _serve(
        tx, dept_id, channel, (entry_of(ticket), ticket, free), now
    )


def _say_queued(tx: _Tx, ticket_id: str, prefix: str, now: float) -> None:
    ticket = tx.ticket(ticket_id)
    if ticket is None or ticket.status != "queued":
        return
    entry = tx.waiting.entry(ticket_id)
    line = tx.line(ticket.department, ticket.channel)
    position = line.position(entry) + 1 if entry is not None and not ticket.pull else 0
    if position > 1:
        why = f"behind {position - 1} waiting item(s)"
    else:
        why = _why_nobody(_candidates(tx, ticket.department, ticket.channel, ticket, now))
    tx.out.emitted.append(
        _queued_event(
            ticket_id,
            tx.tenant,
            ticket.department,
            ticket.channel,
            ticket.priority,
            position,
            "; ".join(filter(None, (prefix, why))),
            now,
        )
    )


# -- candidates and the drain ---------------------------------------------------


def _skill_gap(agent_skills: dict[str, int], needed: dict[str, int]) -> str:
    for skill, level in needed.items():
        have = agent_skills.get(skill, 0)
        if have < level:
            return f"missing skill {skill}" + (f" (level {have} < {level})" if have else "")
    return ""


class Eligible:
    """The agents of a department who may take a work item, and why each other one may not."""

    __slots__ = ()

    def count(self) -> int:
        raise NotImplementedError

    def excluded_count(self) -> int:
        raise NotImplementedError

    def first(self, n: int) -> list[Candidate]:
        """The first ``n`` candidates in department order."""
        raise NotImplementedError

    def everyone(self) -> list[Candidate]:
        raise NotImplementedError

    def excluded_first(self, n: int) -> dict[str, str]:
        raise NotImplementedError

    def reason_counts(self) -> dict[str, int]:
        """Excluded agents per reason, reasons in the order they first occur."""
        raise NotImplementedError

    def candidate(self, agent_id: str) -> Candidate | None:
        raise NotImplementedError

    def reason(self, agent_id: str) -> str | None:
        raise NotImplementedError

    def pick(self, strategy: str, ctx: PickContext) -> Pick | None:
        raise NotImplementedError


class _Scanned(Eligible):
    """Every agent of the department looked at, for this work item."""

    __slots__ = ("candidates", "excluded")

    def __init__(self, candidates: list[Candidate], excluded: dict[str, str]) -> None:
        self.candidates = candidates
        self.excluded = excluded

    def count(self) -> int:
        return len(self.candidates)

    def excluded_count(self) -> int:
        return len(self.excluded)

    def first(self, n: int) -> list[Candidate]:
        return self.candidates[:n]

    def everyone(self) -> list[Candidate]:
        return self.candidates

    def excluded_first(self, n: int) -> dict[str, str]:
        if len(self.excluded) <= n:
            return dict(self.excluded)
        return dict(itertools.islice(self.excluded.items(), n))

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reason in self.excluded.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts

    def candidate(self, agent_id: str) -> Candidate | None:
        for c in self.candidates:
            if c.agent_id == agent_id:
                return c
        return None

    def reason(self, agent_id: str) -> str | None:
        return self.excluded.get(agent_id)

    def pick(self, strategy: str, ctx: PickContext) -> Pick | None:
        return pick(strategy, self.candidates, ctx)


class _Indexed(Eligible):
    """The department's pool for the channel: work without skills or missed offers."""

    __slots__ = ("pool",)

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def count(self) -> int:
        return self.pool.count()

    def excluded_count(self) -> int:
        return self.pool.excluded_count()

    def first(self, n: int) -> list[Candidate]:
        return self.pool.first(n)

    def everyone(self) -> list[Candidate]:
        return self.pool.everyone()

    def excluded_first(self, n: int) -> dict[str, str]:
        return self.pool.excluded_first(n)

    def reason_counts(self) -> dict[str, int]:
        return self.pool.reason_counts()

    def candidate(self, agent_id: str) -> Candidate | None:
        return self.pool.candidates.get(agent_id)

    def reason(self, agent_id: str) -> str | None:
        return self.pool.reasons.get(agent_id)

    def pick(self, strategy: str, ctx: PickContext) -> Pick | None:
        return self.pool.pick(strategy, ctx)


class _Only(Eligible):
    """One candidate (named by a rule) among the others' exclusions."""

    __slots__ = ("only", "others")

    def __init__(self, only: Candidate, others: Eligible) -> None:
        self.only = only
        self.others = others

    def count(self) -> int:
        return 1

    def excluded_count(self) -> int:
        return self.others.excluded_count()

    def first(self, n: int) -> list[Candidate]:
        return [self.only][:n]

    def everyone(self) -> list[Candidate]:
        return [self.only]

    def excluded_first(self, n: int) -> dict[str, str]:
        return self.others.excluded_first(n)

    def reason_counts(self) -> dict[str, int]:
        return self.others.reason_counts()

    def candidate(self, agent_id: str) -> Candidate | None:
        return self.only if agent_id == self.only.agent_id else None

    def reason(self, agent_id: str) -> str | None:
        return self.others.reason(agent_id)

    def pick(self, strategy: str, ctx: PickContext) -> Pick | None:
        return pick(strategy, [self.only], ctx)


def _candidates(
    tx: _Tx, dept_id: str, channel: str, ticket: TicketState | None = None, now: float = 0.0
) -> Eligible:
    """Eligible agents of a department for a channel (and ticket), and why each other
    one is not: from the index when the ticket asks nothing of its own."""
    if ticket is None or not (ticket.skills or ticket.optional_skills or ticket.missed_by):
        if tx.index is not None:
            return _Indexed(tx.index.pool(dept_id, channel, tx.agent))
        # The same scan often runs twice in one event (a drain that finds nobody, then
        # the reason the new ticket waits): until an agent is written, it is the same.
        found = tx.scanned.get((dept_id, channel))
        if found is None:
            found = tx.scanned[(dept_id, channel)] = _scan_free(tx, dept_id, channel)
        return found
    return _scan(tx, dept_id, channel, ticket, now)


def _scan(
    tx: _Tx, dept_id: str, channel: str, ticket: TicketState | None = None, now: float = 0.0
) -> Eligible:
    """Every agent of the department, looked at one by one."""
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    needed: dict[str, int] = {}
    missed: tuple[str, ...] = ()
    if ticket is not None:
        needed = dict(ticket.skills)
        relax_at = ticket.enqueued_at + tx.config.departments[dept_id].relax_after_s
        if ticket.optional_skills and now < relax_at:
            needed = {**ticket.optional_skills, **needed}
        missed = ticket.missed_by
    wanted = {**(ticket.optional_skills if ticket else {}), **needed}
    # The loop runs for every decision of a small department: reads are hoisted and
    # inlined (``tx.agent``, ``tx.capacity``, ``AgentState.load``), the checks are not.
    configs = tx.config.agents
    new_tuple = tuple.__new__
    prefix, written, rows = tx.prefix, tx.agents_out, tx.agents_in
    for order, agent_id in enumerate(tx.config.department_agents.get(dept_id, ())):
        k = prefix + agent_id
        agent = (written and written.get(k)) or rows.get(k)
        if agent is None:
            agent = AgentState(agent_id)
        configured = configs[agent_id]
        override = agent.capacity_override
        if channel in override:
            capacity = override[channel]
        else:
            own = configured if agent.agent_id == agent_id else configs.get(agent.agent_id)
            capacity = own.capacity.get(channel, 0) if own else 0
        if capacity <= 0:
            excluded[agent_id] = "channel disabled"
            continue
        if agent.presence != "online":
            excluded[agent_id] = agent.presence
            continue
        load = len(agent.open_work.get(channel, ())) + len(agent.offers.get(channel, ()))
        if load >= capacity:
            excluded[agent_id] = "at capacity"
        elif agent_id in missed:
            excluded[agent_id] = "missed this offer"
        elif needed and (gap := _skill_gap(configured.skills, needed)):
            excluded[agent_id] = gap
        else:
            score = sum(min(configured.skills.get(s, 0), 10) for s in wanted) if wanted else 0
            # ``Candidate(...)`` without the named tuple's Python ``__new__`` in between
            candidate = (
                agent_id,
                load,
                capacity,
                agent.last_assigned_at,
                configured.priority,
                order,
                score,
            )
            candidates.append(new_tuple(Candidate, candidate))
    return _Scanned(candidates, excluded)


class _Roster:
    """One department's agents as a scan of free agents for one channel reads them.

    ``agents``: (order, agent id, table key, configured agent, configured capacity on
    the channel), in department order, made once per config. ``seen``: per agent,
    the row they were last looked at as and what it made of them (why they are
    excluded, or their ``Candidate``), stored as one pair so that no reader ever
    sees one row's outcome beside another row. Rows are immutable, so the same row
    object always makes the same outcome: a scan looks again only at the agents
    written since, one or two per event, not at the whole department.
    """

    __slots__ = ("agents", "seen")

    def __init__(self, agents: tuple[tuple[int, str, str, AgentConfig, int], ...]) -> None:
        self.agents = agents
        self.seen: list[tuple[AgentState | None, str | Candidate]] = [(None, "")] * len(agents)


#: tenant -> (the config the rosters were made from, (department, channel) -> roster).
_ROSTERS: dict[str, tuple[TenantConfig, dict[tuple[str, str], _Roster]]] = {}


def _roster(config: TenantConfig, dept_id: str, channel: str) -> _Roster:
    """What a scan of free agents needs of the config, made once per config (and kept
    for the tenant's newest one): the scan of a small department runs for almost
    every decision, and re-deriving keys and capacities was a tenth of its cost."""
    held = _ROSTERS.get(config.tenant)
    if held is None or held[0] is not config:
        held = _ROSTERS[config.tenant] = (config, {})
    found = held[1].get((dept_id, channel))
    if found is None:
        prefix = config.tenant + KEY_SEP
        found = held[1][(dept_id, channel)] = _Roster(
            tuple(
                (order, agent_id, prefix + agent_id, cfg, cfg.capacity.get(channel, 0))
                for order, agent_id in enumerate(config.department_agents.get(dept_id, ()))
                for cfg in (config.agents[agent_id],)
            )
        )
    return found


def _scan_free(tx: _Tx, dept_id: str, channel: str) -> Eligible:
    """``_scan`` for work that asks nothing of its own (no skills, no missed offers):
    the same candidates and exclusions, in the same order, from the department's
    roster, without the checks such work never needs."""
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    configs = tx.config.agents
    new_tuple = tuple.__new__
    written, rows = tx.agents_out, tx.agents_in
    roster = _roster(tx.config, dept_id, channel)
    seen = roster.seen
    for order, agent_id, k, configured, configured_capacity in roster.agents:
        agent = (written and written.get(k)) or rows.get(k)
        last = seen[order]
        if agent is not None and agent is last[0]:
            outcome = last[1]
            if isinstance(outcome, str):
                excluded[agent_id] = outcome
            else:
                candidates.append(outcome)
            continue
        row = agent  # None (a default row, made afresh) is never remembered
        if agent is None:
            agent = AgentState(agent_id)
        override = agent.capacity_override
        if channel in override:
            capacity = override[channel]
        elif agent.agent_id == agent_id:
            capacity = configured_capacity
        else:
            own = configs.get(agent.agent_id)
            capacity = own.capacity.get(channel, 0) if own else 0
        if capacity <= 0:
            excluded[agent_id] = "channel disabled"
            seen[order] = (row, "channel disabled")
            continue
        if agent.presence != "online":
            excluded[agent_id] = agent.presence
            seen[order] = (row, agent.presence)
            continue
        load = len(agent.open_work.get(channel, ())) + len(agent.offers.get(channel, ()))
        if load >= capacity:
            excluded[agent_id] = "at capacity"
            seen[order] = (row, "at capacity")
        else:
            candidate = (
                agent_id,
                load,
                capacity,
                agent.last_assigned_at,
                configured.priority,
                order,
                0,
            )
            found = new_tuple(Candidate, candidate)
            candidates.append(found)
            seen[order] = (row, found)
    return _Scanned(candidates, excluded)


def _next_assignable(
    tx: _Tx, dept_id: str, channel: str, now: float
) -> tuple[QueueEntry, TicketState, Eligible] | None:
    """The first waiting item, in service order, that some free agent may take."""
    lines = tx.waiting.queues.get(dept_id)
    queue = None if lines is None else lines.get(channel)
    if queue is None:
        return None
    free: Eligible | None = None
    # The line's own sequence, not its iterator: this runs for every decision.
    for entry in queue.entries if queue.long is None else queue.long:
        ticket = tx.ticket(entry.ticket_id)
        if ticket is None:  # pragma: no cover - the line is derived from the rows
            continue
        if not entry.constrained:
            if free is None:
                free = _candidates(tx, dept_id, channel)
            if free.count():
                return entry, ticket, free
            return None  # nobody free at all: no later item can be placed either
        eligible = _candidates(tx, dept_id, channel, ticket, now)
        if eligible.count():
            return entry, ticket, eligible
        if free is None:
            free = _candidates(tx, dept_id, channel)
        if not free.count():
            return None
    return None


def _drain(tx: _Tx, dept_ids: Iterable[str], channel: str, now: float) -> None:
    """Assign (or offer) waiting work of one channel while anyone can take it.

    Across several departments (an agent in more than one freed capacity) the most
    urgent, then oldest, item is served first, one at a time, so a department with
    one urgent item does not get to empty its whole queue ahead of the others.
    """
    departments = tx.config.departments
    if type(dept_ids) is tuple and len(dept_ids) == 1:  # most drains: no duplicates to drop
        depts = list(dept_ids) if dept_ids[0] in departments else []
    else:
        depts = [d for d in dict.fromkeys(dept_ids) if d in departments]
    if len(depts) == 1:  # the usual case, without choosing between heads
        dept_id = depts[0]
        while (found := _next_assignable(tx, dept_id, channel, now)) is not None:
            if not _serve(tx, dept_id, channel, found, now):  # pragma: no cover
                return
        return
    blocked: set[str] = set()
    while True:
        heads = []
        for d in depts:
            if d in blocked:
                continue
            found = _next_assignable(tx, d, channel, now)
            if found is None:
                blocked.add(d)
            else:
                heads.append((found[0].sort_key(), d, found))
        if not heads:
            return
        _, dept_id, found = min(heads, key=lambda h: h[:2])
        if not _serve(tx, dept_id, channel, found, now):  # pragma: no cover
            blocked.add(dept_id)


def _serve(
    tx: _Tx,
    dept_id: str,
    channel: str,
    found: tuple[QueueEntry, TicketState, Eligible],
    now: float,
) -> bool:
    """Place the department's next assignable item by its strategy (False: nobody)."""
    entry, ticket, eligible = found
    strategy = tx.config.departments[dept_id].strategy_for(channel)
    cursor = tx.department(dept_id).cursors.get(channel, -1)
    chosen = eligible.pick(strategy, _pick_context(entry.ticket_id, cursor))
    if chosen is None:  # pragma: no cover - candidates is never empty here
        return False
    _place(tx, dept_id, channel, entry, ticket, chosen, strategy, eligible, now)
    return True


def _drain_for_agents(tx: _Tx, agent_ids: Iterable[str], channel: str, now: float) -> None:
    depts: list[str] = []
    for agent_id in sorted(agent_ids):
        configured = tx.config.agents.get(agent_id)
        if configured is not None:
            depts += configured.departments
    if depts:
        _drain(tx, depts, channel, now)


def _assign_preferred(
    tx: _Tx, dept_id: str, channel: str, ticket_id: str, agent_id: str, now: float
) -> str:
    """A rule named the agent: they get the ticket if they can take it now.

    Returns "" when placed, else why not (the ticket then follows the department's
    strategy like any other).
    """
    ticket = tx.ticket(ticket_id)
    assert ticket is not None
    eligible = _candidates(tx, dept_id, channel, ticket, now)
    reason = eligible.reason(agent_id)
    if reason is not None:
        return f"preferred agent {agent_id}: {reason}"
    only = eligible.candidate(agent_id)
    if only is None:
        return f"preferred agent {agent_id}: not in department {dept_id}"
    entry = tx.waiting.entry(ticket_id)
    assert entry is not None, ticket
    chosen = Pick(agent_id, "named by a rule")
    _place(
        tx, dept_id, channel, entry, ticket, chosen, "preferred-agent", _Only(only, eligible), now
    )
    return ""


def _explanation(tx: _Tx, chosen: Pick, eligible: Eligible) -> dict[str, Any]:
    if not tx.explain:
        return {}
    return {
        "config_version": tx.config.version,
        "score": chosen.score,
        "candidates": [
            {"agent": c.agent_id, "load": c.load, "capacity": c.capacity}
            for c in eligible.first(EXPLAIN_LIMIT)
        ],
        "candidate_count": eligible.count(),
        "excluded": eligible.excluded_first(EXPLAIN_LIMIT),
        "excluded_by_reason": eligible.reason_counts(),
    }


def _place(
    tx: _Tx,
    dept_id: str,
    channel: str,
    entry: QueueEntry,
    ticket: TicketState,
    chosen: Pick,
    strategy: str,
    eligible: Eligible,
    now: float,
) -> None:
    """Move one waiting item to the chosen agent, directly or as an offer that rings."""
    dept_cfg = tx.config.departments[dept_id]
    dept = tx.department(dept_id)
    winner = eligible.candidate(chosen.agent_id)
    assert winner is not None, chosen
    # The work leaves its line with its row (offered or assigned) below.
    cursors = {**dept.cursors, channel: winner.order}
    timeout = dept_cfg.offer_timeout(channel)
    explanation = _explanation(tx, chosen, eligible)
    if timeout > 0:
        ringing = (
            tuple(c.agent_id for c in eligible.everyone())
            if strategy == RING_ALL
            else (chosen.agent_id,)
        )
        expires = now + timeout
        for agent_id in ringing:
            agent = tx.agent(agent_id)
            tx.put_agent(
                _agent_offers(
                    agent,
                    offers={
                        **agent.offers,
                        channel: (*agent.offers.get(channel, ()), entry.ticket_id),
                    },
                )
            )
        offers = dept.offers
        deadline = _new_deadline(expires, entry.ticket_id)
        if offers:  # usually none ring: answers come before the next work does
            i = bisect.bisect(offers, deadline)
            offers = (*offers[:i], deadline, *offers[i:])
        else:
            offers = (deadline,)
        tx.put_department(dept_id, _department_offered(dept, cursors=cursors, offers=offers))
        tx.put_ticket(
            _ticket_offered(
                ticket,
                status="offered",
                offered_to=ringing,
                offer_expires_at=expires,
                offered_at=now,
                strategy=strategy,
                updated_at=now,
            )
        )
        tx.out.emitted.append(
            _offered_event(
                entry.ticket_id,
                tx.tenant,
                dept_id,
                channel,
                ringing,
                strategy,
                expires,
                explanation,
                entry.ingested_at,
                now,
                max(0.0, now - entry.enqueued_at),
            )
        )
        return
    tx.put_department(dept_id, _department_cursors(dept, cursors=cursors))
    _hand_over(tx, ticket, chosen.agent_id, strategy, explanation, now)


def _hand_over(
    tx: _Tx,
    ticket: TicketState,
    agent_id: str,
    strategy: str,
    explanation: dict[str, Any],
    now: float,
) -> None:
    """The agent now holds the ticket as open work (an offer they held becomes it):
    the one way work is assigned, directly, by an accepted offer or by a pull."""
    channel = ticket.channel
    agent = tx.agent(agent_id)
    offers = agent.offers
    held = offers.get(channel, ())
    if ticket.ticket_id in held:
        offers = {**offers, channel: _without(held, ticket.ticket_id)}
    tx.put_agent(
        _agent_given(
            agent,
            offers=offers,
            open_work={
                **agent.open_work,
                channel: (*agent.open_work.get(channel, ()), ticket.ticket_id),
            },
            last_assigned_at=now,
        )
    )
    tx.put_ticket(
        _ticket_assigned(
            ticket,
            status="assigned",
            agent_id=agent_id,
            strategy=strategy,
            offered_to=(),
            updated_at=now,
        )
    )
    tx.out.emitted.append(
        _assigned_event(
            ticket.ticket_id,
            tx.tenant,
            ticket.department,
            channel,
            agent_id,
            strategy,
            explanation,
            ticket.ingested_at,
            now,
            max(0.0, now - ticket.enqueued_at),
        )
    )


# -- offers ---------------------------------------------------------------------


def _without(ids: tuple[str, ...], gone: str) -> tuple[str, ...]:
    """``ids`` without ``gone``. Most hold one id (an agent's one call, the one agent an
    offer rings for): no comprehension for those."""
    if len(ids) == 1:
        return () if ids[0] == gone else ids
    return tuple([i for i in ids if i != gone])


def _drop_offer(tx: _Tx, agent_id: str, ticket: TicketState) -> None:
    """The agent no longer holds the offer: their slot is free again."""
    agent = tx.agent(agent_id)
    held = agent.offers.get(ticket.channel, ())
    if ticket.ticket_id in held:
        tx.put_agent(
            replace_agent(
                agent,
                offers={
                    **agent.offers,
                    ticket.channel: _without(held, ticket.ticket_id),
                },
            )
        )


def _forget_offer(tx: _Tx, ticket: TicketState) -> None:
    dept = tx.department(ticket.department)
    offers = dept.offers
    if len(offers) == 1 and offers[0].ticket_id == ticket.ticket_id:
        offers = ()  # the usual case: the only offer ringing in the department
    else:
        offers = tuple([o for o in offers if o.ticket_id != ticket.ticket_id])
    tx.put_department(ticket.department, _department_offers(dept, offers=offers))


def _missed(tx: _Tx, ticket: TicketState, agent_id: str, reason: str, now: float) -> None:
    tx.out.emitted.append(
        _missed_event(
            ticket.ticket_id,
            tx.tenant,
            ticket.department,
            ticket.channel,
            agent_id,
            reason,
            now,
        )
    )


def _back_to_queue(tx: _Tx, ticket: TicketState, now: float) -> TicketState:
    """Nobody holds the offer any more: the work waits again at its old place."""
    _forget_offer(tx, ticket)
    waiting = replace_ticket(
        ticket, status="queued", offered_to=(), offer_expires_at=0.0, updated_at=now
    )
    tx.put_ticket(waiting)
    return waiting


def _accept(tx: _Tx, ev: OfferAccepted, now: float) -> tuple[str, ...]:
    ticket = tx.ticket(ev.ticket_id)
    if ticket is None or ticket.status != "offered" or ev.agent_id not in ticket.offered_to:
        tx.out.noop = "offer not open for this agent"
        return ()
    channel = ticket.channel
    others = _without(ticket.offered_to, ev.agent_id)
    for agent_id in others:
        _drop_offer(tx, agent_id, ticket)
        tx.out.emitted.append(
            _withdrawn_event(
                ticket.ticket_id,
                tx.tenant,
                ticket.department,
                channel,
                agent_id,
                f"taken by {ev.agent_id}",
                now,
            )
        )
    _forget_offer(tx, ticket)
    explanation: dict[str, Any] = {}
    if tx.explain:
        waited = now - ticket.offered_at
        explanation = {
            "config_version": tx.config.version,
            "offer": {
                "offered_to": list(ticket.offered_to[:EXPLAIN_LIMIT]),
                "ringing_count": len(ticket.offered_to),
                # round() of a float to digits is slow; an answer in no time is usual
                "accepted_after_s": round(waited, 3) if waited > 0.0 else 0.0,
                "missed_by": list(ticket.missed_by[:EXPLAIN_LIMIT]),
            },
        }
    _hand_over(tx, ticket, ev.agent_id, ticket.strategy, explanation, now)
    if others:
        _drain_for_agents(tx, others, channel, now)
    return ()


def _decline(tx: _Tx, ev: OfferDeclined, now: float) -> tuple[str, ...]:
    ticket = tx.ticket(ev.ticket_id)
    if ticket is None or ticket.status != "offered" or ev.agent_id not in ticket.offered_to:
        tx.out.noop = "offer not open for this agent"
        return ()
    _drop_offer(tx, ev.agent_id, ticket)
    _missed(tx, ticket, ev.agent_id, "declined", now)
    remaining = _without(ticket.offered_to, ev.agent_id)
    ticket = replace_ticket(
        ticket, offered_to=remaining, missed_by=(*ticket.missed_by, ev.agent_id), updated_at=now
    )
    tx.put_ticket(ticket)
    if not remaining:
        _back_to_queue(tx, ticket, now)
        _drain(tx, (ticket.department,), ticket.channel, now)
    return (ticket.channel,)


def _expire_offers(tx: _Tx, dept_id: str, now: float) -> set[tuple[str, str]]:
    """Offers whose time ran out: every agent still holding one missed it."""
    due = [o.ticket_id for o in tx.department(dept_id).offers if o.expires_at <= now]
    touched: set[tuple[str, str]] = set()
    for ticket_id in due:
        ticket = tx.ticket(ticket_id)
        if ticket is None or ticket.status != "offered":  # pragma: no cover - kept in step
            continue
        for agent_id in ticket.offered_to:
            _drop_offer(tx, agent_id, ticket)
            _missed(tx, ticket, agent_id, "timeout", now)
        ticket = replace_ticket(
            ticket, missed_by=(*ticket.missed_by, *ticket.offered_to), updated_at=now
        )
        _back_to_queue(tx, ticket, now)
        touched.add((ticket.department, ticket.channel))
        for agent_id in ticket.offered_to:
            for d in tx.config.agents[agent_id].departments:
                touched.add((d, ticket.channel))
    return touched


def _agent_left(tx: _Tx, agent_id: str, presence: str, now: float) -> tuple[str, ...]:
    """The agent is no longer online: their ringing offers move on, and their open
    work returns to the queue where the department says so (or a rule moves it)."""
    agent = tx.agent(agent_id)
    waiting: set[tuple[str, str]] = set()
    for channel, ticket_ids in sorted(agent.offers.items()):
        for ticket_id in ticket_ids:
            ticket = tx.ticket(ticket_id)
            if ticket is None or ticket.status != "offered":  # pragma: no cover
                continue
            _drop_offer(tx, agent_id, ticket)
            _missed(tx, ticket, agent_id, "agent_unavailable", now)
            remaining = _without(ticket.offered_to, agent_id)
            ticket = replace_ticket(ticket, offered_to=remaining, updated_at=now)
            tx.put_ticket(ticket)
            if not remaining:
                _back_to_queue(tx, ticket, now)
                waiting.add((ticket.department, channel))
    if presence == "offline":
        for channel, ticket_ids in sorted(tx.agent(agent_id).open_work.items()):
            for ticket_id in ticket_ids:
                department = _reopen(tx, agent_id, ticket_id, now)
                if department:
                    waiting.add((department, channel))
    for department, channel in sorted(waiting):
        _drain(tx, (department,), channel, now)
    return ()


def _reopen(tx: _Tx, agent_id: str, ticket_id: str, now: float) -> str:
    """Open work of an agent who went offline: ``agent_offline`` rules, then the
    department's ``requeue_on_offline``, decide whether it waits for someone else.
    Returns the department it now waits in, or "" if it stays with the agent."""
    ticket = tx.ticket(ticket_id)
    if ticket is None or ticket.status != "assigned":
        return ""
    moved_to, rule = _rules_move(tx, ticket, "agent_offline", now, 0.0)
    ticket = tx.ticket(ticket_id) or ticket
    dept_cfg = tx.config.departments.get(ticket.department)
    if moved_to is None and (dept_cfg is None or ticket.channel not in dept_cfg.requeue_on_offline):
        return ""
    agent = tx.agent(agent_id)
    tx.put_agent(
        replace_agent(
            agent,
            open_work={
                **agent.open_work,
                ticket.channel: tuple(
                    t for t in agent.open_work.get(ticket.channel, ()) if t != ticket_id
                ),
            },
        )
    )
    target = moved_to or ticket.department
    reopened = replace_ticket(
        ticket,
        status="queued",
        agent_id="",
        department=target,
        enqueued_at=now if target != ticket.department else ticket.enqueued_at,
        updated_at=now,
        pull=False,
    )
    tx.put_ticket(reopened)
    if target != ticket.department:
        tx.out.emitted.append(
            TicketEscalated(
                ticket_id,
                tx.tenant,
                ticket.channel,  # type: ignore[arg-type]
                ticket.department,
                target,
                0.0,
                f"agent {agent_id} went offline",
                rule,
                now,
            )
        )
    else:
        tx.out.emitted.append(
            _queued_event(
                ticket_id,
                tx.tenant,
                target,
                ticket.channel,
                ticket.priority,
                1,
                f"agent {agent_id} went offline with it open",
                now,
            )
        )
    return target


# -- pull mode --------------------------------------------------------------------


def _take(tx: _Tx, ev: TicketTaken, now: float) -> None:
    """An agent pulls a waiting ticket: allowed if they could be assigned it now."""
    ticket = tx.ticket(ev.ticket_id)
    if ticket is None or ticket.status != "queued":
        tx.out.noop = "ticket not waiting"
        return
    eligible = _candidates(tx, ticket.department, ticket.channel)
    reason = eligible.reason(ev.agent_id)
    if reason is not None:
        tx.out.noop = f"cannot take: {reason}"
        return
    if eligible.candidate(ev.agent_id) is None:
        tx.out.noop = "cannot take: not in the ticket's department"
        return
    explanation = {"config_version": tx.config.version, "score": "taken by the agent"}
    _hand_over(tx, ticket, ev.agent_id, "pull", explanation, now)


# -- waiting too long ---------------------------------------------------------------


def _sweep_waits(tx: _Tx, dept_id: str, now: float) -> set[tuple[str, str]]:
    """Waiting work that crossed a wait threshold since the last sweep: escalation to
    the overflow department, ``queue_wait`` rules, relaxed optional skills."""
    dept = tx.department(dept_id)
    since = dept.swept_at
    dept_cfg = tx.config.departments[dept_id]
    rule_waits = tx.config.wait_thresholds
    touched: set[tuple[str, str]] = set()
    examined = False
    for channel, queue in sorted(tx.waiting.channels(dept_id).items()):
        escalate_after = dept_cfg.escalate_after_s.get(channel, 0.0)
        if not queue or not (escalate_after or rule_waits or queue.constrained):
            continue
        examined = True
        thresholds = sorted({*rule_waits, *([escalate_after] if escalate_after else [])})
        for entry in _due(queue, (*thresholds, dept_cfg.relax_after_s), since, now):
            ticket = tx.ticket(entry.ticket_id)
            if ticket is None:  # pragma: no cover
                continue
            waited = now - ticket.enqueued_at
            before = since - ticket.enqueued_at
            if ticket.optional_skills and before < dept_cfg.relax_after_s <= waited:
                touched.add((dept_id, channel))
            crossed = [t for t in thresholds if before < t <= waited]
            if not crossed:
                continue
            if rule_waits and any(t in rule_waits for t in crossed):
                target, rule = _rules_move(tx, ticket, "queue_wait", now, waited)
                if target is not None:
                    _move(tx, ticket, target, waited, "a queue_wait rule", rule, now)
                    touched.add((target, channel))
                    continue
                ticket = tx.ticket(entry.ticket_id) or ticket
            due = (
                bool(escalate_after) and escalate_after in crossed and ticket.department == dept_id
            )
            if due and dept_cfg.overflow and ticket.status == "queued":
                reason = f"waited {waited:.0f}s, over {escalate_after:.0f}s"
                _move(tx, ticket, dept_cfg.overflow, waited, reason, "", now)
                touched.add((dept_cfg.overflow, channel))
    if examined:
        tx.put_department(dept_id, replace_department(tx.department(dept_id), swept_at=now))
    return touched


def _due(queue: Waiting, thresholds: Iterable[float], since: float, now: float) -> list[QueueEntry]:
    """The entries of ``queue`` that may have waited past a threshold between ``since``
    and ``now``, in service order: what a tick must look at, not the whole line.

    Waiting past ``t`` in that time means being enqueued in (since - t, now - t]; the
    ranges are widened by far more than the rounding of those differences, so that
    the exact test the sweep makes on each entry decides, as it did when it looked
    at every entry (the others did nothing).
    """
    found: dict[str, QueueEntry] = {}
    # A threshold that is not finite is never crossed (and would make the ranges NaN).
    finite = {t for t in thresholds if math.isfinite(t)}
    margin = 1e-12 * max(1.0, abs(since), abs(now), *(abs(t) for t in finite))
    for t in finite:
        for entry in queue.entered_between(since - t - margin, now - t + margin):
            found[entry.ticket_id] = entry
    if len(found) < 2:
        return list(found.values())
    return sorted(found.values(), key=QueueEntry.sort_key)


def _rules_move(
    tx: _Tx, ticket: TicketState, trigger: str, now: float, waited: float
) -> tuple[str | None, str]:
    """Run the tenant's rules of ``trigger`` on a ticket: (department to move it to, or
    None; the rule). Priority and tag changes apply in place."""
    if not any(trigger in r.triggers for r in tx.config.rules):
        return None, ""
    event = InboundReceived(
        ticket.ticket_id,
        tx.tenant,
        ticket.channel,  # type: ignore[arg-type]
        ticket.source,
        ticket.ticket_id,
        Customer(""),
        ticket.ingested_at,
        priority=ticket.priority,
        attributes={"tags": list(ticket.tags)},
    )
    facts = facts_for(
        event, triggers=(trigger,), now=now, department=ticket.department, wait_s=waited
    )
    decision = decide_rules(tx.config, facts)
    if decision.department is None:
        return None, decision.rule
    if decision.priority != ticket.priority or decision.tags != ticket.tags:
        # Waiting work moves to its new place in line with its row.
        tx.put_ticket(replace_ticket(ticket, priority=decision.priority, tags=decision.tags))
    if decision.department != ticket.department and decision.department in tx.config.departments:
        return decision.department, decision.rule
    return None, decision.rule


def _move(
    tx: _Tx, ticket: TicketState, target: str, waited: float, reason: str, rule: str, now: float
) -> None:
    """Waiting work changes department and starts waiting afresh there."""
    current = tx.ticket(ticket.ticket_id) or ticket
    tx.put_ticket(replace_ticket(current, department=target, enqueued_at=now, updated_at=now))
    tx.out.emitted.append(
        TicketEscalated(
            ticket.ticket_id,
            tx.tenant,
            ticket.channel,  # type: ignore[arg-type]
            ticket.department,
            target,
            round(waited, 3),
            reason,
            rule,
            now,
        )
    )


def _why_nobody(eligible: Eligible) -> str:
    if not eligible.excluded_count():
        return "no agent in the department takes this channel"
    counts = eligible.reason_counts()
    return "no agent available: " + ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
