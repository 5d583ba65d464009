"""The agent index decides exactly as the scan over every department member.

The same random stream of events (routed tickets with and without skills or a
preferred agent, presence and capacity changes, finished work, offers accepted,
declined or ringing out, pulls, clock ticks) runs against two copies of the
state: a :class:`MemoryState`, whose decisions come from its index, and a plain
view of the same kind of rows, which the core can only scan. Every transition
must be identical, field by field, explanations included. Halfway, the indexed
side restarts from its rows (a recovered table): the rebuilt index must agree too.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from agents_state import (
    MemoryState,
    Transition,
    on_agent_event,
    on_clock_ticked,
    on_ticket_routed,
)
from agents_state.transitions import PlainState
from schemas.events import (
    AgentCapacityChanged,
    AgentPresenceChanged,
    ClockTicked,
    OfferAccepted,
    OfferDeclined,
    TicketAssigned,
    TicketOffered,
    TicketRouted,
    TicketTaken,
    WorkFinished,
)
from schemas.tenant_config import STRATEGIES, AgentConfig, DepartmentConfig, TenantConfig

from .builders import TENANT

CHANNELS = ("chat", "email", "call")
SKILLS = ("language:fr", "billing")


@st.composite
def configs(draw: st.DrawFn) -> TenantConfig:
    departments = {}
    for i in range(draw(st.integers(1, 3))):
        dept_id = f"d{i}"
        departments[dept_id] = DepartmentConfig(
            dept_id,
            strategy=draw(st.sampled_from(STRATEGIES)),
            strategies=draw(
                st.dictionaries(st.sampled_from(CHANNELS), st.sampled_from(STRATEGIES), max_size=2)
            ),
            offer_timeout_s=draw(st.sampled_from([{}, {"chat": 5.0}, {"chat": 5.0, "call": 5.0}])),
            pull=draw(st.sampled_from([(), ("email",)])),
            relax_after_s=10.0,
        )
    agents = {}
    for j in range(draw(st.integers(1, 14))):
        agent_id = f"a{j}"
        agents[agent_id] = AgentConfig(
            agent_id,
            departments=tuple(draw(st.lists(st.sampled_from(sorted(departments)), unique=True))),
            capacity=draw(st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 3))),
            priority=draw(st.integers(1, 5)),
            skills=draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3))),
        )
    return TenantConfig(TENANT, 1, departments, agents)


def check_same(indexed: Transition, scanned: Transition) -> None:
    assert indexed.emitted == scanned.emitted
    assert [type(e).__name__ for e in indexed.emitted] == [
        type(e).__name__ for e in scanned.emitted
    ]
    for a, b in zip(indexed.emitted, scanned.emitted, strict=True):
        explanation = getattr(a, "explanation", None)
        if explanation is not None:  # the same listing, in the same order
            assert list(explanation.items()) == list(b.explanation.items())
            for key in ("excluded", "excluded_by_reason"):
                if key in explanation:
                    assert list(explanation[key].items()) == list(b.explanation[key].items())
    assert indexed.agents == scanned.agents
    assert indexed.departments == scanned.departments
    assert indexed.tickets == scanned.tickets
    assert (indexed.duplicate, indexed.rejected, indexed.noop) == (
        scanned.duplicate,
        scanned.rejected,
        scanned.noop,
    )


@settings(
    max_examples=80,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(config=configs(), data=st.data())
def test_indexed_decisions_equal_scanned_decisions(
    config: TenantConfig, data: st.DataObject
) -> None:
    indexed, scanned = MemoryState(), PlainState()
    agent_ids = sorted(config.agents)
    open_work: list[tuple[str, str]] = []
    offers: list[tuple[str, str]] = []
    waiting: list[str] = []
    now = 0.0
    steps = data.draw(st.integers(10, 60))
    for i in range(steps):
        now += data.draw(st.sampled_from([0.0, 1.0, 3.0, 7.0]))
        kind = data.draw(
            st.sampled_from(
                [
                    "route",
                    "route",
                    "route",
                    "presence",
                    "capacity",
                    "finish",
                    "offer",
                    "take",
                    "tick",
                ]
            )
        )
        event: object
        if kind == "route":
            event = TicketRouted(
                ticket_id=f"t{i}",
                tenant=TENANT,
                channel=data.draw(st.sampled_from(CHANNELS)),
                source="test",
                conversation_id=f"c{i}",
                department=data.draw(st.sampled_from(sorted(config.departments))),
                rule="r",
                config_version=1,
                priority=data.draw(st.integers(1, 3)),
                received_at=now,
                ingested_at=now,
                routed_at=now,
                skills=data.draw(
                    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=1)
                ),
                optional_skills=data.draw(
                    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=1)
                ),
                preferred_agent=data.draw(st.sampled_from(["", "", *agent_ids])),
            )
        elif kind == "presence":
            event = AgentPresenceChanged(
                f"e{i}",
                TENANT,
                data.draw(st.sampled_from(agent_ids)),
                data.draw(st.sampled_from(["online", "online", "away", "break", "offline"])),
                now,
            )
        elif kind == "capacity":
            event = AgentCapacityChanged(
                f"e{i}",
                TENANT,
                data.draw(st.sampled_from(agent_ids)),
                data.draw(
                    st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 3), min_size=1)
                ),
                now,
            )
        elif kind == "finish" and open_work:
            agent_id, ticket_id = data.draw(st.sampled_from(open_work))
            event = WorkFinished(f"e{i}", TENANT, agent_id, ticket_id, now)
        elif kind == "offer" and offers:
            agent_id, ticket_id = data.draw(st.sampled_from(offers))
            answer = OfferAccepted if data.draw(st.booleans()) else OfferDeclined
            event = answer(f"e{i}", TENANT, agent_id, ticket_id, now)
        elif kind == "take" and waiting:
            event = TicketTaken(
                f"e{i}",
                TENANT,
                data.draw(st.sampled_from(agent_ids)),
                data.draw(st.sampled_from(waiting)),
                now,
            )
        else:
            event = ClockTicked(TENANT, now)
        if i == steps // 2:  # a restart: the index is rebuilt from the rows alone
            indexed = MemoryState(
                dict(indexed.agents),
                dict(indexed.departments),
                dict(indexed.tickets),
                dict(indexed.seen),
            )
        if isinstance(event, TicketRouted):
            a = on_ticket_routed(indexed, config, event, now)
            b = on_ticket_routed(scanned, config, event, now)
            waiting.append(event.ticket_id)
        elif isinstance(event, ClockTicked):
            a = on_clock_ticked(indexed, config, event, now)
            b = on_clock_ticked(scanned, config, event, now)
        else:
            a = on_agent_event(indexed, config, event, now)
            b = on_agent_event(scanned, config, event, now)
        check_same(a, b)
        if data.draw(st.integers(0, 9)) == 0:  # a transition computed but never applied
            continue
        indexed.apply(a)
        scanned.apply(b)
        for ev in a.emitted:
            if isinstance(ev, TicketAssigned):
                open_work.append((ev.agent_id, ev.ticket_id))
            elif isinstance(ev, TicketOffered):
                offers += [(agent_id, ev.ticket_id) for agent_id in ev.agent_ids]
