"""The assignment core's decision cost with 10, 1,000 and 10,000 agents, and with
10,000 tickets waiting, in process (no broker).

One department, least load, direct assignment (no offers), every agent online
with email capacity 5 and 2 open items, so each routed ticket is assigned at
once. A cycle is ``TicketRouted`` (assigned) then ``WorkFinished`` for the
ticket an agent holds longest, applied to :class:`MemoryState`, so load stays
steady cycle after cycle. The queue case has 10 agents at capacity and 10,000
tickets waiting: a cycle is a new ticket joining the queue, then a
``WorkFinished`` that assigns the head of the queue to the freed agent.

Figures: ``decision_us_<case>`` (median of several passes, microseconds per
cycle) and ``decision_ratio_<case>`` = cost / cost with 10 agents and no queue;
near 1 means the decision does not grow with the department or the queue.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections import deque

from agents_state import (
    AgentState,
    MemoryState,
    TicketState,
    Transition,
    on_agent_event,
    on_ticket_routed,
    state_key,
)
from agents_state.model import TicketStatus
from bench.common import say
from schemas.events import TicketRouted, WorkFinished
from schemas.tenant_config import AgentConfig, DepartmentConfig, TenantConfig

DEFAULT_EVENTS = 2_000
TENANT = "bench"
DEPT = "support"
CAPACITY = 5
PASSES = 5
QUEUED = 10_000
#: (figure suffix, agents, tickets waiting)
CASES = (("10", 10, 0), ("1k", 1_000, 0), ("10k", 10_000, 0), ("queue10k", 10, QUEUED))


def tenant(agents: int) -> TenantConfig:
    dept = DepartmentConfig(DEPT, strategy="least-load", offer_timeout_s={})
    return TenantConfig(
        TENANT,
        1,
        {DEPT: dept},
        {
            f"a{i}": AgentConfig(f"a{i}", departments=(DEPT,), capacity={"email": CAPACITY})
            for i in range(agents)
        },
    )


def ticket(ticket_id: str, status: TicketStatus, at: float, agent_id: str = "") -> TicketState:
    return TicketState(
        ticket_id, status, DEPT, "email", 3, at, at, agent_id, enqueued_at=at, strategy="least-load"
    )


def routed(ticket_id: str, at: float) -> TicketRouted:
    return TicketRouted(
        ticket_id=ticket_id,
        tenant=TENANT,
        channel="email",
        source="email:help@acme.example",
        conversation_id=f"conv-{ticket_id}",
        department=DEPT,
        rule="default",
        config_version=1,
        priority=3,
        received_at=at,
        ingested_at=at,
        routed_at=at,
    )


class Desk:
    def __init__(self, agents: int, load: int, waiting: int) -> None:
        self.config = tenant(agents)
        self.state = MemoryState()
        self.now = 1_780_000_000.0
        self.ids = 0
        #: (agent, ticket) of open work, oldest first: what finishes next.
        self.open: deque[tuple[str, str]] = deque()
        # The rows arrive as one transition (as a recovered table holds them): setting
        # up by routing would cost O(agents) per ticket with a scanning core.
        rows = Transition()
        start = self.now
        for i, agent_id in enumerate(self.config.agents):
            work = tuple(f"w{i}-{j}" for j in range(load))
            rows.agents[state_key(TENANT, agent_id)] = AgentState(
                agent_id, "online", 0.0, {"email": work}, last_assigned_at=start
            )
            for ticket_id in work:
                rows.tickets[state_key(TENANT, ticket_id)] = ticket(
                    ticket_id, "assigned", start, agent_id
                )
                self.open.append((agent_id, ticket_id))
        for i in range(waiting):
            ticket_id = f"q{i}"
            at = start - waiting + i
            # A queued row is all there is to waiting work: the queue is derived from it.
            rows.tickets[state_key(TENANT, ticket_id)] = ticket(ticket_id, "queued", at)
        self.state.apply(rows)

    def next(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}{self.ids}"

    def tick(self) -> float:
        self.now += 0.001
        return self.now

    def agent_event(self, ev: WorkFinished) -> None:
        t = on_agent_event(self.state, self.config, ev, self.tick())
        self.state.apply(t)
        self.note(t.emitted)

    def route(self) -> None:
        now = self.tick()
        t = on_ticket_routed(self.state, self.config, routed(self.next("t"), now), now)
        self.state.apply(t)
        self.note(t.emitted)

    def note(self, emitted: list[object]) -> None:
        for ev in emitted:
            agent_id = getattr(ev, "agent_id", None)
            if type(ev).__name__ == "TicketAssigned" and agent_id:
                self.open.append((agent_id, ev.ticket_id))  # type: ignore[attr-defined]

    def finish(self) -> None:
        agent_id, ticket_id = self.open.popleft()
        self.agent_event(WorkFinished(self.next("f"), TENANT, agent_id, ticket_id, 0.0))

    def cycle(self) -> None:
        self.route()
        self.finish()

    def waiting(self) -> int:
        return len(self.state.waiting(TENANT).get(DEPT, "email"))


def per_cycle_us(agents: int, waiting: int, n: int) -> float:
    load = CAPACITY if waiting else 2
    desk = Desk(agents, load, waiting)
    for _ in range(min(n, 200)):  # warm up
        desk.cycle()
    passes = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(PASSES):
            started = time.perf_counter()
            for _ in range(n):
                desk.cycle()
            passes.append((time.perf_counter() - started) / n * 1e6)
    finally:
        gc.enable()
    assert desk.waiting() == waiting, (desk.waiting(), waiting)  # steady state held
    return statistics.median(passes)


def run(n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, agents, waiting in CASES:
        cost = per_cycle_us(agents, waiting, n)
        out[f"decision_us_{name}"] = round(cost, 2)
        say(f"decision: {agents} agents, {waiting} waiting: {cost:.2f} us/cycle")
    base = out["decision_us_10"]
    for name, _, _ in CASES[1:]:
        out[f"decision_ratio_{name}"] = round(out[f"decision_us_{name}"] / base, 3)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(DEFAULT_EVENTS)))
