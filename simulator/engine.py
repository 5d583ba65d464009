"""A discrete-event run of the same pure core the worker uses.

Arrivals are Poisson, handle times exponential; agents accept at once (offers
with timeouts come with the offer feature). Every random draw comes from
generators seeded by the run's seed and the ticket's number, never from the
strategy's choices, so two strategies compared on one seed see exactly the
same customers with the same handle times.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from agents_state import MemoryState, on_agent_event, on_ticket_routed, withdraw_ticket
from schemas.events import AgentPresenceChanged, Channel, TicketAssigned, TicketRouted, WorkFinished
from schemas.tenant_config import AgentConfig, DepartmentConfig, TenantConfig

TENANT = "sim"
DEPT = "desk"


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


@dataclass
class Outcome:
    """What happened to each ticket, for the report."""

    arrived: dict[str, float] = field(default_factory=dict)
    waited: dict[str, float] = field(default_factory=dict)
    abandoned: set[str] = field(default_factory=set)
    busy_seconds: float = 0.0
    work_per_agent: dict[str, int] = field(default_factory=dict)
    events: int = 0


def tenant_config(cfg: SimConfig) -> TenantConfig:
    agents = {
        f"agent{i:03d}": AgentConfig(
            f"agent{i:03d}", departments=(DEPT,), capacity={cfg.channel: cfg.capacity}
        )
        for i in range(cfg.agents)
    }
    return TenantConfig(TENANT, 1, {DEPT: DepartmentConfig(DEPT, strategy=cfg.strategy)}, agents)


def simulate(cfg: SimConfig) -> Outcome:
    config = tenant_config(cfg)
    state = MemoryState()
    out = Outcome(work_per_agent=dict.fromkeys(config.agents, 0))
    horizon = cfg.hours * 3600.0
    arrivals = random.Random(cfg.seed)
    rate = cfg.arrivals_per_hour / 3600.0
    # (time, sequence, kind, ticket id, agent id): sequence keeps the order total.
    heap: list[tuple[float, int, str, str, str]] = []
    seq = 0
    for agent_id in config.agents:
        state.apply(
            on_agent_event(
                state,
                config,
                AgentPresenceChanged(f"on-{agent_id}", TENANT, agent_id, "online", 0.0),
                0.0,
            )
        )
    t, n = arrivals.expovariate(rate), 0
    while t < horizon:
        heap.append((t, seq, "arrive", f"t{n}", ""))
        seq += 1
        n += 1
        t += arrivals.expovariate(rate)
    heapq.heapify(heap)
    handle_rng = random.Random()

    def assigned(emitted: list[object], now: float) -> None:
        nonlocal seq
        for e in emitted:
            if isinstance(e, TicketAssigned):
                out.waited[e.ticket_id] = now - out.arrived[e.ticket_id]
                out.work_per_agent[e.agent_id] += 1
                handle_rng.seed(f"{cfg.seed}:{e.ticket_id}")
                handle = handle_rng.expovariate(1.0 / cfg.mean_handle_seconds)
                out.busy_seconds += min(handle, max(0.0, horizon - now))
                heapq.heappush(heap, (now + handle, seq, "finish", e.ticket_id, e.agent_id))
                seq += 1

    while heap:
        now, _, kind, ticket_id, agent_id = heapq.heappop(heap)
        out.events += 1
        if kind == "arrive":
            out.arrived[ticket_id] = now
            routed = TicketRouted(
                ticket_id, TENANT, cfg.channel, "sim", ticket_id, DEPT, "sim", 1, 3, now, now, now
            )
            t_ = on_ticket_routed(state, config, routed, now)
            state.apply(t_)
            assigned(t_.emitted, now)
            if cfg.patience_seconds is not None and ticket_id not in out.waited:
                heapq.heappush(heap, (now + cfg.patience_seconds, seq, "leave", ticket_id, ""))
                seq += 1
        elif kind == "finish":
            t_ = on_agent_event(
                state, config, WorkFinished(f"f-{ticket_id}", TENANT, agent_id, ticket_id, now), now
            )
            state.apply(t_)
            assigned(t_.emitted, now)
            # Finished work leaves the state, as it would once tickets expire.
            state.tickets.pop(f"{TENANT}\x1f{ticket_id}", None)
            state.seen.pop(f"{TENANT}\x1ff-{ticket_id}", None)
        elif kind == "leave" and ticket_id not in out.waited:
            t_ = withdraw_ticket(state, config, ticket_id, now)
            state.apply(t_)
            if not t_.noop:
                out.abandoned.add(ticket_id)
    return out
