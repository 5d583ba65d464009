"""Offers with timeouts, ring-all, pull mode, escalation, skills and the rule
triggers that fire inside the assignment stage (``queue_wait``, ``agent_offline``)."""

from __future__ import annotations

import dataclasses

from schemas.events import (
    ClockTicked,
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
)
from schemas.tenant_config import (
    ActionConfig,
    ConditionConfig,
    DepartmentConfig,
    RuleConfig,
)

from .builders import Desk, agent, make_config, presence, routed

RINGS = {"chat": 10.0, "call": 10.0}


def offered(t: object) -> list[TicketOffered]:
    return [e for e in t.emitted if isinstance(e, TicketOffered)]  # type: ignore[attr-defined]


def kinds(t: object) -> list[str]:
    return [type(e).__name__ for e in t.emitted]  # type: ignore[attr-defined]


def tick(desk: Desk, at: float) -> object:
    return desk.send(ClockTicked(desk.config.tenant, at), now=at)


def accept(desk: Desk, agent_id: str, ticket_id: str) -> object:
    return desk.send(OfferAccepted(desk.next_id("a"), desk.config.tenant, agent_id, ticket_id, 0))


def decline(desk: Desk, agent_id: str, ticket_id: str) -> object:
    return desk.send(OfferDeclined(desk.next_id("d"), desk.config.tenant, agent_id, ticket_id, 0))


def ringing_desk(strategy: str = "least-load", **dept: object) -> Desk:
    d = DepartmentConfig("d", strategy=strategy, offer_timeout_s=RINGS, **dept)  # type: ignore[arg-type]
    desk = Desk(make_config({"d": d}, [agent("x", ["d"], chat=1), agent("y", ["d"], chat=1)]))
    desk.online("x", "y")
    return desk


def test_a_chat_rings_for_one_agent_and_holds_their_slot_until_accepted() -> None:
    desk = ringing_desk()
    (offer,) = offered(desk.ticket("c1", "d"))
    assert offer.agent_ids == ("x",) and offer.expires_at == desk.now + 10.0
    assert desk.agent("x").load("chat") == 1 and desk.open_work("x", "chat") == ()
    # x's slot is held: the next chat rings for y.
    assert offered(desk.ticket("c2", "d"))[0].agent_ids == ("y",)
    t = accept(desk, "x", "c1")
    (assigned,) = t.emitted  # type: ignore[attr-defined]
    assert isinstance(assigned, TicketAssigned) and assigned.agent_id == "x"
    assert assigned.explanation["offer"]["offered_to"] == ["x"]
    assert desk.open_work("x", "chat") == ("c1",) and desk.agent("x").offers["chat"] == ()
    ticket = desk.ticket_state("c1")
    assert ticket is not None and ticket.status == "assigned"


def test_a_timed_out_offer_moves_on_and_counts_a_missed_offer() -> None:
    desk = ringing_desk()
    start = desk.now
    desk.ticket("c1", "d")
    assert kinds(tick(desk, start + 9.0)) == []  # not due yet
    t = tick(desk, start + 11.0)
    assert kinds(t) == ["OfferMissed", "TicketOffered"]
    missed, again = t.emitted  # type: ignore[attr-defined]
    assert (missed.agent_id, missed.reason) == ("x", "timeout")
    assert again.agent_ids == ("y",)
    # y lets it ring out too: nobody is left who has not missed it, so it waits.
    t = tick(desk, start + 22.0)
    assert kinds(t) == ["OfferMissed"]
    ticket = desk.ticket_state("c1")
    assert ticket is not None and ticket.status == "queued" and ticket.missed_by == ("x", "y")
    assert desk.queued_ids("d", "chat") == ["c1"]
    assert desk.agent("x").load("chat") == 0 and desk.agent("y").load("chat") == 0


def test_a_decline_moves_the_offer_to_the_next_agent_at_once() -> None:
    desk = ringing_desk()
    desk.ticket("c1", "d")
    t = decline(desk, "x", "c1")
    assert kinds(t) == ["OfferMissed", "TicketOffered"]
    assert t.emitted[0].reason == "declined"  # type: ignore[attr-defined]
    assert t.emitted[1].agent_ids == ("y",)  # type: ignore[attr-defined]
    # x's freed slot does not take c1 back (x declined it).
    assert desk.agent("x").load("chat") == 0


def test_a_late_accept_changes_nothing() -> None:
    desk = ringing_desk()
    start = desk.now
    desk.ticket("c1", "d")
    tick(desk, start + 11.0)  # x missed it; it rings for y now
    t = accept(desk, "x", "c1")
    assert t.noop == "offer not open for this agent" and not t.emitted  # type: ignore[attr-defined]
    assert accept(desk, "y", "c1").emitted[0].agent_id == "y"  # type: ignore[attr-defined]


def test_ring_all_rings_for_everybody_and_the_first_accept_wins() -> None:
    desk = ringing_desk("ring-all")
    (offer,) = offered(desk.ticket("c1", "d"))
    assert offer.agent_ids == ("x", "y") and offer.strategy == "ring-all"
    t = accept(desk, "y", "c1")
    assert kinds(t) == ["OfferWithdrawn", "TicketAssigned"]
    withdrawn = t.emitted[0]  # type: ignore[attr-defined]
    assert isinstance(withdrawn, OfferWithdrawn) and withdrawn.agent_id == "x"
    assert withdrawn.reason == "taken by y"
    assert desk.agent("x").load("chat") == 0 and desk.open_work("y", "chat") == ("c1",)
    assert accept(desk, "x", "c1").noop  # type: ignore[attr-defined]


def test_ring_all_timeout_waits_without_ringing_anybody_new() -> None:
    desk = ringing_desk("ring-all")
    start = desk.now
    desk.ticket("c1", "d")  # at start + 1: rings until start + 11
    t = tick(desk, start + 11.0)
    assert kinds(t) == ["OfferMissed", "OfferMissed"]
    assert desk.queued_ids("d", "chat") == ["c1"]


def test_an_agent_going_away_while_it_rings_moves_the_offer_on() -> None:
    desk = ringing_desk()
    desk.ticket("c1", "d")
    t = desk.send(presence(desk.next_id("p"), "x", "break"))
    assert kinds(t) == ["OfferMissed", "TicketOffered"]
    assert t.emitted[0].reason == "agent_unavailable"  # type: ignore[attr-defined]
    assert t.emitted[1].agent_ids == ("y",)  # type: ignore[attr-defined]


def test_open_chats_return_to_the_queue_when_their_agent_goes_offline() -> None:
    d = DepartmentConfig("d", offer_timeout_s={}, requeue_on_offline=("chat",))
    desk = Desk(make_config({"d": d}, [agent("x", ["d"], chat=1, email=1)]))
    desk.online("x")
    desk.ticket("c1", "d")
    desk.ticket("e1", "d", "email")
    t = desk.send(presence(desk.next_id("p"), "x", "offline"))
    (queued,) = t.emitted  # type: ignore[attr-defined]
    assert isinstance(queued, TicketQueued) and queued.ticket_id == "c1"
    assert "went offline" in queued.reason
    assert desk.queued_ids("d", "chat") == ["c1"]
    assert desk.open_work("x", "email") == ("e1",)  # email stays with its agent
    assert desk.open_work("x", "chat") == ()
    desk.online("x")
    assert desk.open_work("x", "chat") == ("c1",)


def test_pull_mode_waits_until_an_agent_takes_the_ticket() -> None:
    d = DepartmentConfig("d", pull=("email",))
    desk = Desk(make_config({"d": d}, [agent("x", ["d"], email=1), agent("z", ["other"])]))
    desk.online("x")
    (queued,) = desk.ticket("e1", "d", "email").emitted  # type: ignore[attr-defined]
    assert isinstance(queued, TicketQueued) and "waits until an agent takes it" in queued.reason
    assert desk.pulls("d", "email")[0].ticket_id == "e1"
    assert desk.open_work("x", "email") == ()
    t = desk.send(TicketTaken(desk.next_id("k"), desk.config.tenant, "x", "e1", 0))
    (assigned,) = t.emitted  # type: ignore[attr-defined]
    assert isinstance(assigned, TicketAssigned) and assigned.strategy == "pull"
    assert desk.pulls("d", "email") == ()
    # A full agent cannot take more.
    desk.ticket("e2", "d", "email")
    t = desk.send(TicketTaken(desk.next_id("k"), desk.config.tenant, "x", "e2", 0))
    assert t.noop == "cannot take: at capacity" and not t.emitted


def test_leave_unassigned_from_a_rule_is_honoured() -> None:
    desk = Desk(make_config({"d": "least-load"}, [agent("x", ["d"], email=5)]))
    desk.online("x")
    ev = dataclasses.replace(routed("e1", "d", "email"), leave_unassigned=True)
    (queued,) = desk.send(ev).emitted
    assert isinstance(queued, TicketQueued) and "left unassigned by a rule" in queued.reason
    assert desk.open_work("x", "email") == ()


def test_waiting_work_escalates_to_the_overflow_after_the_configured_wait() -> None:
    tier1 = DepartmentConfig("t1", overflow="t2", escalate_after_s={"email": 60.0})
    tier2 = DepartmentConfig("t2")
    desk = Desk(make_config({"t1": tier1, "t2": tier2}, [agent("x", ["t2"], email=1)]))
    desk.online("x")
    start = desk.now
    desk.send(routed("e1", "t1", "email"), now=start)
    assert kinds(tick(desk, start + 59.0)) == []
    t = tick(desk, start + 61.0)
    assert kinds(t) == ["TicketEscalated", "TicketAssigned"]
    esc = t.emitted[0]  # type: ignore[attr-defined]
    assert isinstance(esc, TicketEscalated)
    assert (esc.from_department, esc.to_department) == ("t1", "t2") and esc.waited_s == 61.0
    assert t.emitted[1].agent_id == "x"  # type: ignore[attr-defined]
    assert kinds(tick(desk, start + 200.0)) == []  # escalated once


def test_a_queue_wait_rule_fires_once_when_the_wait_is_crossed() -> None:
    rule = RuleConfig(
        "slow-email-urgent",
        triggers=("queue_wait",),
        groups=((ConditionConfig("wait_s", "gte", 30),),),
        actions=(ActionConfig("set_priority", 1), ActionConfig("transfer", "t2")),
    )
    desk = Desk(
        make_config(
            {"t1": "least-load", "t2": "least-load"},
            [agent("x", ["t1"], email=1)],
            rules=[rule],
        )
    )
    start = desk.now
    desk.send(routed("e1", "t1", "email"), now=start)
    assert kinds(tick(desk, start + 29.0)) == []
    t = tick(desk, start + 31.0)
    assert kinds(t) == ["TicketEscalated"]
    assert t.emitted[0].rule == "slow-email-urgent"  # type: ignore[attr-defined]
    ticket = desk.ticket_state("e1")
    assert ticket is not None and (ticket.department, ticket.priority) == ("t2", 1)
    assert desk.queued_ids("t2", "email") == ["e1"]


def test_an_agent_offline_rule_moves_their_open_work() -> None:
    rule = RuleConfig(
        "reassign-on-offline",
        triggers=("agent_offline",),
        actions=(ActionConfig("transfer", "backup"),),
    )
    desk = Desk(
        make_config(
            {"d": "least-load", "backup": "least-load"},
            [agent("x", ["d"], email=1), agent("b", ["backup"], email=1)],
            rules=[rule],
        )
    )
    desk.online("x", "b")
    desk.ticket("e1", "d", "email")
    t = desk.send(presence(desk.next_id("p"), "x", "offline"))
    assert kinds(t) == ["TicketEscalated", "TicketAssigned"]
    assert t.emitted[1].agent_id == "b"  # type: ignore[attr-defined]


def skilled_desk(relax_after: float = 60.0) -> Desk:
    d = DepartmentConfig("d", strategy="skills", offer_timeout_s={}, relax_after_s=relax_after)
    agents = [
        agent("novice", ["d"], email=5),
        agent("german", ["d"], skills={"language:de": 5}, email=5),
        agent("expert", ["d"], skills={"language:de": 9, "billing": 8}, email=5),
    ]
    desk = Desk(make_config({"d": d}, agents))
    return desk


def skilled(ticket_id: str, skills: dict[str, int], optional: dict[str, int]) -> TicketRouted:
    return dataclasses.replace(
        routed(ticket_id, "d", "email"), skills=skills, optional_skills=optional
    )


def test_required_skills_exclude_agents_and_the_best_match_wins() -> None:
    desk = skilled_desk()
    desk.online("novice", "german", "expert")
    (a,) = desk.send(skilled("e1", {"language:de": 1}, {})).emitted
    assert isinstance(a, TicketAssigned) and a.agent_id == "expert"
    assert a.explanation["excluded"] == {"novice": "missing skill language:de"}


def test_optional_skills_relax_after_the_wait() -> None:
    desk = skilled_desk(relax_after=30.0)
    desk.online("novice", "german")
    start = desk.now
    (q,) = desk.send(skilled("e1", {"language:de": 1}, {"billing": 5}), now=start).emitted
    assert isinstance(q, TicketQueued) and "missing skill billing" in q.reason
    assert kinds(tick(desk, start + 29.0)) == []
    t = tick(desk, start + 31.0)
    (a,) = t.emitted  # type: ignore[attr-defined]
    assert isinstance(a, TicketAssigned) and a.agent_id == "german"


def test_skill_blocked_head_does_not_block_work_behind_it() -> None:
    desk = skilled_desk()
    desk.online("novice")
    desk.send(skilled("e1", {"language:de": 1}, {}))
    t = desk.send(routed("e2", "d", "email"))
    assert [(e.ticket_id, e.agent_id) for e in t.emitted if isinstance(e, TicketAssigned)] == [
        ("e2", "novice")
    ]
    assert desk.queued_ids("d", "email") == ["e1"]


def test_replay_of_offers_and_ticks_is_deterministic() -> None:
    def run() -> list[object]:
        desk = ringing_desk("round-robin")
        start = desk.now
        out: list[object] = []
        for i in range(4):
            out += desk.ticket(f"c{i}", "d").emitted  # type: ignore[attr-defined]
        out += tick(desk, start + 11.0).emitted  # type: ignore[attr-defined]
        out += decline(desk, "x", "c2").emitted  # type: ignore[attr-defined]
        out += tick(desk, start + 30.0).emitted  # type: ignore[attr-defined]
        return out

    first = run()
    assert first == run()
    assert any(isinstance(e, OfferMissed) for e in first)
