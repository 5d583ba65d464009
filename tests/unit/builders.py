"""Small typed builders shared by the unit tests of the pure core.

Everything here is plain data: a tenant config built in code, events with
sensible defaults, and read helpers over :class:`MemoryState` that look rows up
by their table key so the tests never spell the key format out by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents_state import (
    AgentState,
    DepartmentState,
    MemoryState,
    QueueEntry,
    TicketState,
    Transition,
    on_agent_event,
    on_clock_ticked,
    on_ticket_routed,
    state_key,
    waiting_work,
)
from schemas.events import (
    AgentCapacityChanged,
    AgentEvent,
    AgentPresenceChanged,
    Channel,
    ClockTicked,
    Presence,
    TicketAssigned,
    TicketRouted,
    WorkFinished,
)
from schemas.tenant_config import AgentConfig, DepartmentConfig, RuleConfig, TenantConfig

TENANT = "acme"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO_ROOT / "examples" / "demo-tenant.yaml"


def make_config(
    departments: Mapping[str, str | DepartmentConfig],
    agents: Sequence[AgentConfig],
    rules: Sequence[RuleConfig] = (),
    default_department: str = "",
    tenant: str = TENANT,
    version: int = 1,
) -> TenantConfig:
    """A config from ``{dept_id: strategy-or-DepartmentConfig}`` and agents in order.

    A department given by strategy name assigns every channel directly (no offers),
    so tests of strategies and queues need no accept events; offer tests pass a
    DepartmentConfig.
    """
    depts: dict[str, DepartmentConfig] = {}
    for dept_id, spec in departments.items():
        depts[dept_id] = (
            spec
            if isinstance(spec, DepartmentConfig)
            else DepartmentConfig(dept_id, strategy=spec, offer_timeout_s={})
        )
    return TenantConfig(
        tenant,
        version,
        depts,
        {a.id: a for a in agents},
        tuple(rules),
        default_department,
    )


def agent(
    agent_id: str,
    departments: Iterable[str],
    priority: int = 50,
    skills: Mapping[str, int] | None = None,
    **capacity: int,
) -> AgentConfig:
    return AgentConfig(
        agent_id, agent_id, tuple(departments), dict(capacity), priority, dict(skills or {})
    )


def routed(
    ticket_id: str,
    department: str,
    channel: Channel = "chat",
    priority: int = 3,
    at: float = 0.0,
    reason: str = "",
    tenant: str = TENANT,
) -> TicketRouted:
    return TicketRouted(
        ticket_id=ticket_id,
        tenant=tenant,
        channel=channel,
        source=f"{channel}:test",
        conversation_id=f"conv-{ticket_id}",
        department=department,
        rule="test-rule",
        config_version=1,
        priority=priority,
        received_at=at,
        ingested_at=at,
        routed_at=at,
        reason=reason,
    )


def presence(
    event_id: str, agent_id: str, value: Presence, at: float = 0.0, tenant: str = TENANT
) -> AgentPresenceChanged:
    return AgentPresenceChanged(event_id, tenant, agent_id, value, at)


def capacity(
    event_id: str, agent_id: str, at: float = 0.0, tenant: str = TENANT, **per_channel: int
) -> AgentCapacityChanged:
    return AgentCapacityChanged(event_id, tenant, agent_id, dict(per_channel), at)


def finished(
    event_id: str, agent_id: str, ticket_id: str, at: float = 0.0, tenant: str = TENANT
) -> WorkFinished:
    return WorkFinished(event_id, tenant, agent_id, ticket_id, at)


Event = TicketRouted | AgentEvent | ClockTicked


def step(state: MemoryState, config: TenantConfig, event: Event, now: float) -> Transition:
    """Run the matching handler and apply its transition to ``state``."""
    if isinstance(event, TicketRouted):
        t = on_ticket_routed(state, config, event, now)
    elif isinstance(event, ClockTicked):
        t = on_clock_ticked(state, config, event, now)
    else:
        t = on_agent_event(state, config, event, now)
    state.apply(t)
    return t


class Desk:
    """A config plus dict-backed state, with a clock and read helpers."""

    def __init__(self, config: TenantConfig) -> None:
        self.config = config
        self.state = MemoryState()
        self.now = 0.0
        self._ids = 0

    def send(self, event: Event, now: float | None = None) -> Transition:
        if now is None:
            self.now += 1.0
        else:
            self.now = now
        return step(self.state, self.config, event, self.now)

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def online(self, *agent_ids: str) -> None:
        for agent_id in agent_ids:
            self.send(presence(self.next_id("p"), agent_id, "online"))

    def ticket(
        self, ticket_id: str, department: str, channel: Channel = "chat", priority: int = 3
    ) -> Transition:
        return self.send(routed(ticket_id, department, channel, priority))

    def finish(self, agent_id: str, ticket_id: str) -> Transition:
        return self.send(finished(self.next_id("f"), agent_id, ticket_id))

    # --- reads -----------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentState:
        return self.state.agents.get(state_key(self.config.tenant, agent_id)) or AgentState(
            agent_id
        )

    def department(self, dept_id: str) -> DepartmentState:
        return (
            self.state.departments.get(state_key(self.config.tenant, dept_id)) or DepartmentState()
        )

    def queue(self, dept_id: str, channel: str) -> tuple[QueueEntry, ...]:
        return waiting_work(self.state, self.config.tenant, dept_id, channel)

    def pulls(self, dept_id: str, channel: str) -> tuple[QueueEntry, ...]:
        return waiting_work(self.state, self.config.tenant, dept_id, channel, pull=True)

    def queued_ids(self, dept_id: str, channel: str) -> list[str]:
        return [e.ticket_id for e in self.queue(dept_id, channel)]

    def ticket_state(self, ticket_id: str) -> TicketState | None:
        return self.state.tickets.get(state_key(self.config.tenant, ticket_id))

    def open_work(self, agent_id: str, channel: str) -> tuple[str, ...]:
        return self.agent(agent_id).open_work.get(channel, ())


def assignments(t: Transition) -> list[tuple[str, str]]:
    """``(ticket_id, agent_id)`` of every assignment a transition emitted, in order."""
    return [(e.ticket_id, e.agent_id) for e in t.emitted if isinstance(e, TicketAssigned)]


def only(t: Transition, kind: type[Any]) -> Any:
    """The single emitted event, which must be of ``kind``."""
    assert len(t.emitted) == 1, t.emitted
    (event,) = t.emitted
    assert isinstance(event, kind), event
    return event


def is_empty(t: Transition) -> bool:
    return not (t.agents or t.departments or t.tickets or t.seen or t.emitted)


__all__ = [
    "DEMO_CONFIG",
    "TENANT",
    "Desk",
    "Event",
    "agent",
    "assignments",
    "capacity",
    "finished",
    "is_empty",
    "make_config",
    "only",
    "presence",
    "routed",
    "step",
]
