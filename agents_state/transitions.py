"""The assignment stage's core: ``(state, config, event, now) -> Transition``.

Pure and synchronous. A transition lists the rows to write and the events to
send; the Faust shell applies them, the tests and the simulator apply them to
dicts. Every handler first checks the ticket or event id against state of the
same partition, so a redelivered event yields an empty transition: this is what
makes at-least-once delivery safe without broker transactions.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from agents_state.model import (
    AgentState,
    DepartmentState,
    QueueEntry,
    TicketState,
    state_key,
)
from schemas.events import (
    AgentCapacityChanged,
    AgentEvent,
    AgentPresenceChanged,
    ClockTicked,
    TicketAssigned,
    TicketQueued,
    TicketRouted,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import TenantConfig
from strategies import Candidate, Pick, PickContext, pick

#: At most this many candidates / exclusions are listed by name in an explanation.
EXPLAIN_LIMIT = 10

V = TypeVar("V")


class Readable(Protocol[V]):  # type: ignore[misc]
    def get(self, key: str, default: None = None) -> V | None: ...


class StateView(Protocol):
    """Read access to the four state tables (Faust tables or plain dicts)."""

    @property
    def agents(self) -> Readable[AgentState]: ...
    @property
    def departments(self) -> Readable[DepartmentState]: ...
    @property
    def tickets(self) -> Readable[TicketState]: ...
    @property
    def seen(self) -> Readable[float]: ...


@dataclass
class MemoryState:
    """Dict-backed state for tests and the offline simulator."""

    agents: dict[str, AgentState] = field(default_factory=dict)
    departments: dict[str, DepartmentState] = field(default_factory=dict)
    tickets: dict[str, TicketState] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)

    def apply(self, t: Transition) -> None:
        self.agents.update(t.agents)
        self.departments.update(t.departments)
        self.tickets.update(t.tickets)
        self.seen.update(t.seen)


@dataclass
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


class _Tx:
    """Reads through the transition's own pending writes, so one event sees its effects."""

    def __init__(self, state: StateView, config: TenantConfig) -> None:
        self.state = state
        self.config = config
        self.tenant = config.tenant
        self.out = Transition()

    def agent(self, agent_id: str) -> AgentState:
        k = state_key(self.tenant, agent_id)
        found = self.out.agents.get(k) or self.state.agents.get(k)
        return found if found is not None else AgentState(agent_id)

    def put_agent(self, agent: AgentState) -> None:
        self.out.agents[state_key(self.tenant, agent.agent_id)] = agent

    def department(self, dept_id: str) -> DepartmentState:
        k = state_key(self.tenant, dept_id)
        found = self.out.departments.get(k) or self.state.departments.get(k)
        return found if found is not None else DepartmentState()

    def put_department(self, dept_id: str, dept: DepartmentState) -> None:
        self.out.departments[state_key(self.tenant, dept_id)] = dept

    def ticket(self, ticket_id: str) -> TicketState | None:
        k = state_key(self.tenant, ticket_id)
        return self.out.tickets.get(k) or self.state.tickets.get(k)

    def put_ticket(self, ticket: TicketState) -> None:
        self.out.tickets[state_key(self.tenant, ticket.ticket_id)] = ticket

    def capacity(self, agent: AgentState, channel: str) -> int:
        if channel in agent.capacity_override:
            return agent.capacity_override[channel]
        configured = self.config.agents.get(agent.agent_id)
        return configured.capacity.get(channel, 0) if configured else 0


def on_ticket_routed(
    state: StateView, config: TenantConfig, ev: TicketRouted, now: float
) -> Transition:
    """A routed ticket is assigned, queued behind waiting work, or declared unroutable."""
    tx = _Tx(state, config)
    if tx.ticket(ev.ticket_id) is not None:
        tx.out.duplicate = True
        return tx.out
    reason = ev.reason
    if not reason and ev.department not in config.departments:
        reason = f"department {ev.department!r} is not in config version {config.version}"
    if reason:
        tx.put_ticket(
            TicketState(
                ev.ticket_id,
                "unroutable",
                ev.department,
                ev.channel,
                ev.priority,
                ev.ingested_at,
                now,
            )
        )
        tx.out.emitted.append(TicketUnroutable(ev.ticket_id, ev.tenant, ev.channel, reason, now))
        return tx.out

    tx.put_ticket(
        TicketState(
            ev.ticket_id, "queued", ev.department, ev.channel, ev.priority, ev.ingested_at, now
        )
    )
    entry = QueueEntry(ev.ticket_id, ev.priority, now, ev.ingested_at)
    dept = tx.department(ev.department)
    queue = tuple(sorted((*dept.queues.get(ev.channel, ()), entry), key=QueueEntry.sort_key))
    tx.put_department(
        ev.department, dataclasses.replace(dept, queues={**dept.queues, ev.channel: queue})
    )
    preferred_missed = ""
    if ev.preferred_agent:
        preferred_missed = _assign_preferred(
            tx, ev.department, ev.channel, ev.ticket_id, ev.preferred_agent, now
        )
    # Waiting work is served first: the new ticket joined the queue in priority order.
    _drain(tx, (ev.department,), ev.channel, now)
    ticket = tx.ticket(ev.ticket_id)
    if ticket is not None and ticket.status == "queued":
        waiting = tx.department(ev.department).queues.get(ev.channel, ())
        position = next(i for i, e in enumerate(waiting) if e.ticket_id == ev.ticket_id) + 1
        _, excluded = _candidates(tx, ev.department, ev.channel)
        tx.out.emitted.append(
            TicketQueued(
                ev.ticket_id,
                ev.tenant,
                ev.department,
                ev.channel,
                ev.priority,
                position,
                "; ".join(filter(None, (preferred_missed, _why_nobody(excluded, position)))),
                now,
            )
        )
    return tx.out


def withdraw_ticket(
    state: StateView, config: TenantConfig, ticket_id: str, now: float
) -> Transition:
    """The customer left before anyone took the work (hung up, closed the chat).

    Only waiting work can be withdrawn; assigned or finished work is the agent's
    to close, so for it this changes nothing (``noop`` says why).
    """
    tx = _Tx(state, config)
    ticket = tx.ticket(ticket_id)
    if ticket is None or ticket.status != "queued":
        tx.out.noop = "not waiting"
        return tx.out
    dept = tx.department(ticket.department)
    queue = dept.queues.get(ticket.channel, ())
    tx.put_department(
        ticket.department,
        dataclasses.replace(
            dept,
            queues={
                **dept.queues,
                ticket.channel: tuple(e for e in queue if e.ticket_id != ticket_id),
            },
        ),
    )
    tx.put_ticket(dataclasses.replace(ticket, status="withdrawn", updated_at=now))
    return tx.out


def on_agent_event(
    state: StateView, config: TenantConfig, ev: AgentEvent, now: float
) -> Transition:
    """Presence, capacity and finished work change load; freed capacity takes waiting work."""
    tx = _Tx(state, config)
    seen_key = state_key(ev.tenant, ev.event_id)
    if tx.out.seen.get(seen_key) is not None or state.seen.get(seen_key) is not None:
        tx.out.duplicate = True
        return tx.out
    configured = config.agents.get(ev.agent_id)
    if configured is None:
        tx.out.rejected = f"agent {ev.agent_id!r} is not in config version {config.version}"
        return tx.out
    tx.out.seen[seen_key] = ev.occurred_at
    agent = tx.agent(ev.agent_id)
    freed: Iterable[str] = ()
    if isinstance(ev, AgentPresenceChanged):
        if ev.presence != agent.presence:
            agent = dataclasses.replace(agent, presence=ev.presence, presence_since=ev.occurred_at)
            tx.put_agent(agent)
            if ev.presence == "online":
                channels = {*configured.capacity, *agent.capacity_override}
                freed = sorted(c for c in channels if tx.capacity(agent, c) > 0)
        else:
            tx.out.noop = "presence unchanged"
    elif isinstance(ev, AgentCapacityChanged):
        agent = dataclasses.replace(
            agent, capacity_override={**agent.capacity_override, **ev.capacity}
        )
        tx.put_agent(agent)
        freed = sorted(ev.capacity)
    elif isinstance(ev, WorkFinished):
        channel = next((c for c, ids in agent.open_work.items() if ev.ticket_id in ids), None)
        if channel is None:
            tx.out.noop = "work not open for this agent"
        else:
            remaining = tuple(t for t in agent.open_work[channel] if t != ev.ticket_id)
            tx.put_agent(
                dataclasses.replace(agent, open_work={**agent.open_work, channel: remaining})
            )
            ticket = tx.ticket(ev.ticket_id)
            if ticket is not None:
                tx.put_ticket(dataclasses.replace(ticket, status="finished", updated_at=now))
            freed = (channel,)
    for channel in freed:
        _drain(tx, configured.departments, channel, now)
    return tx.out


def on_clock_ticked(
    state: StateView, config: TenantConfig, ev: ClockTicked, now: float
) -> Transition:
    """Time passed: expire offers, escalate work that waited too long."""
    tx = _Tx(state, config)
    tx.out.noop = "nothing due"
    return tx.out


def _candidates(tx: _Tx, dept_id: str, channel: str) -> tuple[list[Candidate], dict[str, str]]:
    """Eligible agents of a department for a channel, and why each other one is not."""
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    for order, agent_id in enumerate(tx.config.department_agents.get(dept_id, ())):
        agent = tx.agent(agent_id)
        capacity = tx.capacity(agent, channel)
        load = agent.load(channel)
        if capacity <= 0:
            excluded[agent_id] = "channel disabled"
        elif agent.presence != "online":
            excluded[agent_id] = agent.presence
        elif load >= capacity:
            excluded[agent_id] = "at capacity"
        else:
            priority = tx.config.agents[agent_id].priority
            candidates.append(
                Candidate(agent_id, load, capacity, agent.last_assigned_at, priority, order)
            )
    return candidates, excluded


def _drain(tx: _Tx, dept_ids: Iterable[str], channel: str, now: float) -> None:
    """Assign waiting work of one channel while anyone can take it.

    Across several departments (an agent in more than one freed capacity) the most
    urgent, then oldest, head is served first, one item at a time, so a department
    with one urgent item does not get to empty its whole queue ahead of the others.
    """
    blocked: set[str] = set()
    depts = [d for d in dict.fromkeys(dept_ids) if d in tx.config.departments]
    while True:
        heads = [
            (queue[0].sort_key(), d)
            for d in depts
            if d not in blocked and (queue := tx.department(d).queues.get(channel))
        ]
        if not heads:
            return
        _, dept_id = min(heads)
        if not _assign_head(tx, dept_id, channel, now):
            blocked.add(dept_id)


def _assign_head(tx: _Tx, dept_id: str, channel: str, now: float) -> bool:
    """Give the head of one queue to the agent the department's strategy picks."""
    strategy = tx.config.departments[dept_id].strategy_for(channel)
    dept = tx.department(dept_id)
    head = dept.queues[channel][0]
    candidates, excluded = _candidates(tx, dept_id, channel)
    chosen = pick(strategy, candidates, PickContext(head.ticket_id, dept.cursors.get(channel, -1)))
    if chosen is None:
        return False
    _assign(tx, dept_id, channel, head, chosen, strategy, candidates, excluded, now)
    return True


def _assign_preferred(
    tx: _Tx, dept_id: str, channel: str, ticket_id: str, agent_id: str, now: float
) -> str:
    """A rule named the agent: they get the ticket if they can take it now.

    Returns "" when assigned, else why not (the ticket then follows the
    department's strategy like any other).
    """
    candidates, excluded = _candidates(tx, dept_id, channel)
    if agent_id in excluded:
        return f"preferred agent {agent_id}: {excluded[agent_id]}"
    if not any(c.agent_id == agent_id for c in candidates):
        return f"preferred agent {agent_id}: not in department {dept_id}"
    entry = next(e for e in tx.department(dept_id).queues[channel] if e.ticket_id == ticket_id)
    chosen = Pick(agent_id, "named by a rule")
    _assign(tx, dept_id, channel, entry, chosen, "preferred-agent", candidates, excluded, now)
    return ""


def _assign(
    tx: _Tx,
    dept_id: str,
    channel: str,
    entry: QueueEntry,
    chosen: Pick,
    strategy: str,
    candidates: list[Candidate],
    excluded: dict[str, str],
    now: float,
) -> None:
    """Move one waiting item to the chosen agent and say so, with the explanation."""
    dept = tx.department(dept_id)
    winner = next(c for c in candidates if c.agent_id == chosen.agent_id)
    agent = tx.agent(chosen.agent_id)
    tx.put_agent(
        dataclasses.replace(
            agent,
            open_work={
                **agent.open_work,
                channel: (*agent.open_work.get(channel, ()), entry.ticket_id),
            },
            last_assigned_at=now,
        )
    )
    tx.put_department(
        dept_id,
        dataclasses.replace(
            dept,
            queues={
                **dept.queues,
                channel: tuple(e for e in dept.queues[channel] if e.ticket_id != entry.ticket_id),
            },
            cursors={**dept.cursors, channel: winner.order},
        ),
    )
    ticket = tx.ticket(entry.ticket_id)
    if ticket is not None:
        tx.put_ticket(
            dataclasses.replace(ticket, status="assigned", agent_id=chosen.agent_id, updated_at=now)
        )
    explanation = {
        "config_version": tx.config.version,
        "score": chosen.score,
        "candidates": [
            {"agent": c.agent_id, "load": c.load, "capacity": c.capacity}
            for c in candidates[:EXPLAIN_LIMIT]
        ],
        "candidate_count": len(candidates),
        "excluded": dict(list(excluded.items())[:EXPLAIN_LIMIT]),
        "excluded_by_reason": dict(Counter(excluded.values())),
    }
    tx.out.emitted.append(
        TicketAssigned(
            entry.ticket_id,
            tx.tenant,
            dept_id,
            channel,  # type: ignore[arg-type]
            chosen.agent_id,
            strategy,
            explanation,
            entry.ingested_at,
            now,
            max(0.0, now - entry.enqueued_at),
        )
    )


def _why_nobody(excluded: dict[str, str], position: int) -> str:
    if position > 1:
        return f"behind {position - 1} waiting item(s)"
    if not excluded:
        return "no agent in the department takes this channel"
    counts = Counter(excluded.values())
    return "no agent available: " + ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
