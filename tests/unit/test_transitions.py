"""The assignment stage's pure transitions over dict-backed state."""

from __future__ import annotations

from collections import Counter

import pytest

from agents_state import MemoryState, on_agent_event, on_ticket_routed, state_key
from schemas.events import TicketAssigned, TicketQueued, TicketRouted, TicketUnroutable
from schemas.tenant_config import DepartmentConfig, TenantConfig

from .builders import (
    TENANT,
    Desk,
    agent,
    assignments,
    capacity,
    finished,
    is_empty,
    make_config,
    only,
    presence,
    routed,
    step,
)


def sales_support() -> TenantConfig:
    """sales (least load): ann, bob, cat; support (round robin): cat, dan."""
    return make_config(
        {"sales": "least-load", "support": "round-robin"},
        [
            agent("ann", ["sales"], chat=2, email=3),
            agent("bob", ["sales"], chat=1),
            agent("cat", ["sales", "support"], chat=2),
            agent("dan", ["support"], email=1),
        ],
    )


@pytest.fixture
def desk() -> Desk:
    return Desk(sales_support())


# --- assignment --------------------------------------------------------------------


def test_assigns_to_an_online_agent(desk: Desk) -> None:
    desk.online("ann")
    t = desk.ticket("t1", "sales", "chat", priority=2)
    ev = only(t, TicketAssigned)
    assert (ev.ticket_id, ev.agent_id, ev.department, ev.channel) == ("t1", "ann", "sales", "chat")
    assert ev.tenant == TENANT
    assert ev.strategy == "least-load"
    assert ev.waited_s == 0.0
    assert ev.assigned_at == desk.now
    assert desk.open_work("ann", "chat") == ("t1",)
    assert desk.agent("ann").last_assigned_at == desk.now
    ticket = desk.ticket_state("t1")
    assert ticket is not None
    assert (ticket.status, ticket.agent_id, ticket.department, ticket.priority) == (
        "assigned",
        "ann",
        "sales",
        2,
    )
    assert desk.queue("sales", "chat") == ()


def test_explanation_names_candidates_and_exclusions(desk: Desk) -> None:
    desk.online("ann", "cat")
    desk.send(capacity("c1", "cat", chat=0))
    ev = only(desk.ticket("t1", "sales", "chat"), TicketAssigned)
    assert ev.explanation["config_version"] == 1
    assert ev.explanation["candidates"] == [{"agent": "ann", "load": 0, "capacity": 2}]
    assert ev.explanation["candidate_count"] == 1
    assert ev.explanation["excluded"] == {"bob": "offline", "cat": "channel disabled"}
    assert ev.explanation["excluded_by_reason"] == {"offline": 1, "channel disabled": 1}
    assert ev.explanation["score"] == "load 0/2"


def test_least_load_spreads_then_fills_then_queues(desk: Desk) -> None:
    desk.online("ann", "bob")
    got = [assignments(desk.ticket(f"t{i}", "sales", "chat")) for i in range(1, 5)]
    # t1: tie 0/2 vs 0/1, config order -> ann; t2: ann 1/2 vs bob 0/1 -> bob;
    # t3: bob at capacity -> ann; t4: everyone full -> queued.
    assert got == [[("t1", "ann")], [("t2", "bob")], [("t3", "ann")], []]
    assert desk.queued_ids("sales", "chat") == ["t4"]


def test_agents_outside_the_department_or_channel_are_never_chosen(desk: Desk) -> None:
    desk.online("ann", "bob", "cat", "dan")
    # support chat: dan has no chat capacity, so only cat can take it.
    for i in range(2):
        assert assignments(desk.ticket(f"s{i}", "support", "chat")) == [(f"s{i}", "cat")]
    q = only(desk.ticket("s2", "support", "chat"), TicketQueued)
    assert q.reason == "no agent available: 1 at capacity, 1 channel disabled"
    # sales email: only ann takes email in sales (dan is support).
    assert assignments(desk.ticket("e1", "sales", "email")) == [("e1", "ann")]


# --- queueing ----------------------------------------------------------------------


def test_queues_when_nobody_is_available(desk: Desk) -> None:
    q1 = only(desk.ticket("t1", "sales", "chat"), TicketQueued)
    assert (q1.ticket_id, q1.department, q1.channel, q1.position) == ("t1", "sales", "chat", 1)
    assert q1.reason == "no agent available: 3 offline"
    q2 = only(desk.ticket("t2", "sales", "chat"), TicketQueued)
    assert q2.position == 2
    assert q2.reason == "behind 1 waiting item(s)"
    assert desk.queued_ids("sales", "chat") == ["t1", "t2"]
    for tid in ("t1", "t2"):
        ticket = desk.ticket_state(tid)
        assert ticket is not None
        assert ticket.status == "queued"
        assert ticket.agent_id == ""


def test_queue_without_any_agent_for_the_channel(desk: Desk) -> None:
    q = only(desk.ticket("t1", "support", "call"), TicketQueued)
    assert q.reason == "no agent available: 2 channel disabled"
    empty = Desk(make_config({"void": "least-load"}, []))
    q = only(empty.ticket("t1", "void", "chat"), TicketQueued)
    assert q.reason == "no agent in the department takes this channel"


def test_queue_is_ordered_by_priority_then_age(desk: Desk) -> None:
    positions = {}
    for tid, prio in [("a", 3), ("b", 5), ("c", 1), ("d", 3), ("e", 1)]:
        positions[tid] = only(desk.ticket(tid, "sales", "chat", prio), TicketQueued).position
    assert positions == {"a": 1, "b": 2, "c": 1, "d": 3, "e": 2}
    assert desk.queued_ids("sales", "chat") == ["c", "e", "a", "d", "b"]
    entries = desk.queue("sales", "chat")
    assert [e.priority for e in entries] == [1, 1, 3, 3, 5]


def test_equal_times_are_ordered_by_ticket_id(desk: Desk) -> None:
    for tid in ("t9", "t1", "t5"):
        desk.send(routed(tid, "sales", "chat"), now=10.0)
    assert desk.queued_ids("sales", "chat") == ["t1", "t5", "t9"]


def test_agent_coming_online_takes_waiting_work_in_priority_then_age_order(desk: Desk) -> None:
    for tid, prio in [("a", 3), ("b", 5), ("c", 1), ("d", 3)]:
        desk.ticket(tid, "sales", "chat", prio)
    t = desk.send(presence("p1", "ann", "online"))
    assert assignments(t) == [("c", "ann"), ("a", "ann")]  # chat capacity 2
    assert desk.queued_ids("sales", "chat") == ["d", "b"]
    assert desk.open_work("ann", "chat") == ("c", "a")
    waited = {e.ticket_id: e.waited_s for e in t.emitted}
    assert waited == {"c": 2.0, "a": 4.0}  # queued at 3 and 1, assigned at 5


def test_coming_online_drains_every_channel(desk: Desk) -> None:
    desk.ticket("c1", "sales", "chat")
    desk.ticket("e1", "sales", "email")
    t = desk.send(presence("p1", "ann", "online"))
    assert sorted(assignments(t)) == [("c1", "ann"), ("e1", "ann")]


def test_work_finished_frees_capacity_for_the_queue(desk: Desk) -> None:
    desk.online("bob")
    assert assignments(desk.ticket("t1", "sales", "chat")) == [("t1", "bob")]
    desk.ticket("t2", "sales", "chat", priority=4)
    desk.ticket("t3", "sales", "chat", priority=2)
    t = desk.finish("bob", "t1")
    assert assignments(t) == [("t3", "bob")]
    assert t.noop == ""
    done = desk.ticket_state("t1")
    assert done is not None
    assert done.status == "finished"
    assert desk.open_work("bob", "chat") == ("t3",)
    assert desk.queued_ids("sales", "chat") == ["t2"]
    assert assignments(desk.finish("bob", "t3")) == [("t2", "bob")]
    assert desk.queue("sales", "chat") == ()


def test_waiting_work_goes_before_new_work(desk: Desk) -> None:
    desk.online("bob")
    desk.ticket("t1", "sales", "chat")  # bob full
    desk.ticket("old", "sales", "chat", priority=3)
    desk.finish("bob", "t1")  # old -> bob
    desk.ticket("new", "sales", "chat", priority=3)
    assert desk.open_work("bob", "chat") == ("old",)
    assert desk.queued_ids("sales", "chat") == ["new"]


def test_freed_agent_serves_the_most_urgent_of_their_departments(desk: Desk) -> None:
    desk.online("cat")
    desk.ticket("x1", "support", "chat")
    desk.ticket("x2", "support", "chat")  # cat (chat 2) is full
    desk.ticket("sales-p3", "sales", "chat", priority=3)
    desk.ticket("support-p1", "support", "chat", priority=1)
    t = desk.finish("cat", "x1")
    assert assignments(t) == [("support-p1", "cat")]
    assert desk.queued_ids("sales", "chat") == ["sales-p3"]


def test_freed_agent_serves_by_priority_across_departments() -> None:
    """Priority then age holds across the freed agent's departments, one item at a time.

    cat belongs to A and B, chat capacity 2. Waiting: A=[a1 p3, a2 p5], B=[b1 p4].
    Coming online, cat should take a1 (p3) then b1 (p4): the p4 item must not wait
    behind a p5 item just because the p5 item's department had the most urgent head.
    """
    desk = Desk(make_config({"A": "least-load", "B": "least-load"}, [agent("cat", "AB", chat=2)]))
    desk.ticket("a1", "A", "chat", priority=3)
    desk.ticket("a2", "A", "chat", priority=5)
    desk.ticket("b1", "B", "chat", priority=4)
    t = desk.send(presence("p1", "cat", "online"))
    assert assignments(t) == [("a1", "cat"), ("b1", "cat")]
    assert desk.queued_ids("A", "chat") == ["a2"]


def test_offline_agent_keeps_open_work_but_gets_nothing_new(desk: Desk) -> None:
    desk.online("bob")
    desk.ticket("t1", "sales", "chat")
    desk.send(presence("p-off", "bob", "offline"))
    assert desk.open_work("bob", "chat") == ("t1",)
    desk.ticket("t2", "sales", "chat")
    t = desk.finish("bob", "t1")  # bob is offline: the freed slot takes nothing
    assert assignments(t) == []
    assert desk.queued_ids("sales", "chat") == ["t2"]
    assert assignments(desk.send(presence("p-on", "bob", "online"))) == [("t2", "bob")]


@pytest.mark.parametrize("away", ["away", "break", "offline"])
def test_no_assignment_unless_online(desk: Desk, away: str) -> None:
    desk.online("bob")
    desk.send(presence("p2", "bob", away))  # type: ignore[arg-type]
    assert only(desk.ticket("t1", "sales", "chat"), TicketQueued).reason == (
        f"no agent available: 1 {away}, 2 offline"  # reasons in alphabetical order
        if away != "offline"
        else "no agent available: 3 offline"
    )


# --- duplicates and rejects ---------------------------------------------------------


def test_redelivered_ticket_changes_nothing(desk: Desk) -> None:
    desk.online("bob")
    ev = routed("t1", "sales", "chat")
    desk.send(ev)
    before = repr(desk.state)
    t = desk.send(ev)
    assert t.duplicate
    assert is_empty(t)
    assert repr(desk.state) == before
    # ... also after the ticket was finished, and after it was queued.
    desk.finish("bob", "t1")
    assert desk.send(ev).duplicate
    desk.send(routed("t2", "sales", "chat"))
    desk.send(routed("t3", "sales", "chat"))
    before = repr(desk.state)
    t = desk.send(routed("t3", "sales", "chat", priority=1))  # same id, other content
    assert t.duplicate
    assert is_empty(t)
    assert repr(desk.state) == before


def test_redelivered_unroutable_ticket_changes_nothing(desk: Desk) -> None:
    ev = routed("t1", "", reason="no rule matched")
    desk.send(ev)
    t = desk.send(ev)
    assert t.duplicate
    assert is_empty(t)


@pytest.mark.parametrize("kind", ["presence", "capacity", "finished", "noop-presence"])
def test_redelivered_agent_event_changes_nothing(desk: Desk, kind: str) -> None:
    desk.online("bob")
    desk.ticket("t1", "sales", "chat")
    desk.ticket("t2", "sales", "chat")
    ev = {
        "presence": presence("e1", "bob", "offline"),
        "capacity": capacity("e1", "bob", chat=2),
        "finished": finished("e1", "bob", "t1"),
        "noop-presence": presence("e1", "bob", "online"),
    }[kind]
    first = desk.send(ev)
    assert not first.duplicate
    assert first.seen == {state_key(TENANT, "e1"): ev.occurred_at}
    before = repr(desk.state)
    again = desk.send(ev)
    assert again.duplicate
    assert is_empty(again)
    assert repr(desk.state) == before


def test_redelivered_presence_does_not_undo_a_later_change(desk: Desk) -> None:
    on = presence("e1", "bob", "online")
    desk.send(on)
    desk.send(presence("e2", "bob", "break"))
    assert desk.send(on).duplicate
    assert desk.agent("bob").presence == "break"


def test_redelivered_work_finished_does_not_free_twice(desk: Desk) -> None:
    desk.online("ann")
    desk.ticket("t1", "sales", "chat")
    desk.ticket("t2", "sales", "chat")
    done = finished("f1", "ann", "t1")
    desk.send(done)
    assert desk.open_work("ann", "chat") == ("t2",)
    assert desk.send(done).duplicate
    assert desk.open_work("ann", "chat") == ("t2",)


def test_unknown_agent_is_rejected(desk: Desk) -> None:
    for ev in (
        presence("e1", "zed", "online"),
        capacity("e2", "zed", chat=3),
        finished("e3", "zed", "t1"),
    ):
        t = desk.send(ev)
        assert "zed" in t.rejected
        assert not t.duplicate
        assert is_empty(t)
        # Not remembered as seen: a redelivery is rejected again, never "applied before".
        again = desk.send(ev)
        assert again.rejected
        assert not again.duplicate
    assert desk.state == MemoryState()


def test_stale_work_finished_is_a_noop_but_seen(desk: Desk) -> None:
    desk.online("ann", "bob")
    desk.ticket("t1", "sales", "chat")  # -> ann
    for ev in (finished("f1", "bob", "t1"), finished("f2", "ann", "nope")):
        t = desk.send(ev)
        assert t.noop == "work not open for this agent"
        assert t.emitted == []
        assert t.agents == {}
        assert desk.send(ev).duplicate
    assert desk.open_work("ann", "chat") == ("t1",)


def test_unchanged_presence_is_a_noop(desk: Desk) -> None:
    desk.online("ann")
    t = desk.send(presence("again", "ann", "online"))
    assert t.noop == "presence unchanged"
    assert t.emitted == []
    assert t.agents == {}


# --- unroutable --------------------------------------------------------------------


def test_no_department_with_a_reason_is_unroutable(desk: Desk) -> None:
    desk.online("ann", "bob", "cat", "dan")
    t = desk.send(routed("t1", "", "email", reason="no rule matched and no default"))
    ev = only(t, TicketUnroutable)
    assert (ev.ticket_id, ev.tenant, ev.channel) == ("t1", TENANT, "email")
    assert ev.reason == "no rule matched and no default"
    ticket = desk.ticket_state("t1")
    assert ticket is not None
    assert ticket.status == "unroutable"
    assert t.departments == {}
    assert t.agents == {}


def test_a_reason_wins_even_with_a_known_department(desk: Desk) -> None:
    desk.online("ann")
    ev = only(desk.send(routed("t1", "sales", "chat", reason="blocked")), TicketUnroutable)
    assert ev.reason == "blocked"
    assert desk.open_work("ann", "chat") == ()


@pytest.mark.parametrize("department", ["", "marketing"])
def test_unknown_department_is_unroutable(desk: Desk, department: str) -> None:
    ev = only(desk.send(routed("t1", department, "chat")), TicketUnroutable)
    assert repr(department) in ev.reason
    assert "config version 1" in ev.reason


# --- capacity overrides ------------------------------------------------------------


def test_capacity_raise_drains_the_queue(desk: Desk) -> None:
    desk.online("bob")
    desk.ticket("t1", "sales", "chat")
    desk.ticket("t2", "sales", "chat")
    desk.ticket("t3", "sales", "chat")
    t = desk.send(capacity("c1", "bob", chat=3))
    assert assignments(t) == [("t2", "bob"), ("t3", "bob")]
    assert desk.agent("bob").capacity_override == {"chat": 3}


def test_capacity_zero_disables_a_channel(desk: Desk) -> None:
    desk.online("bob")
    desk.send(capacity("c1", "bob", chat=0))
    q = only(desk.ticket("t1", "sales", "chat"), TicketQueued)
    assert "channel disabled" in q.reason


def test_capacity_lowered_below_load_blocks_new_work_until_below(desk: Desk) -> None:
    desk.online("ann")
    for tid in ("t1", "t2", "t3"):
        desk.ticket(tid, "sales", "email")
    desk.send(capacity("c1", "ann", email=1))
    desk.ticket("t4", "sales", "email")
    assert desk.queued_ids("sales", "email") == ["t4"]
    assert assignments(desk.finish("ann", "t1")) == []  # 2 open, capacity 1
    assert assignments(desk.finish("ann", "t2")) == []  # 1 open, capacity 1
    assert assignments(desk.finish("ann", "t3")) == [("t4", "ann")]
    assert desk.open_work("ann", "email") == ("t4",)


def test_capacity_override_merges_per_channel(desk: Desk) -> None:
    desk.send(capacity("c1", "ann", chat=5))
    desk.send(capacity("c2", "ann", email=0))
    assert desk.agent("ann").capacity_override == {"chat": 5, "email": 0}
    desk.send(capacity("c3", "ann", chat=1))
    assert desk.agent("ann").capacity_override == {"chat": 1, "email": 0}


def test_capacity_override_enables_an_unconfigured_channel(desk: Desk) -> None:
    desk.online("bob")  # bob has no email capacity in the config; ann (email) is offline
    desk.send(capacity("c1", "bob", email=1))
    assert assignments(desk.ticket("e1", "sales", "email")) == [("e1", "bob")]


def test_capacity_override_enabling_a_channel_drains_its_queue() -> None:
    desk = Desk(sales_support())
    desk.online("bob")
    desk.ticket("e1", "sales", "email")  # nobody online takes email
    assert assignments(desk.send(capacity("c1", "bob", email=1))) == [("e1", "bob")]


def test_coming_online_drains_channels_enabled_by_override() -> None:
    """An agent whose only email capacity is a run-time override takes waiting email on login.

    bob has no email in the config; an override gives him email=1 while he is
    offline; an email ticket queues; bob comes online -> it must be assigned.
    """
    desk = Desk(sales_support())
    desk.send(capacity("c1", "bob", email=1))
    desk.ticket("e1", "sales", "email")
    t = desk.send(presence("p1", "bob", "online"))
    assert assignments(t) == [("e1", "bob")]
    assert desk.queue("sales", "email") == ()


# --- round robin through the transitions --------------------------------------------


def rr_desk(n: int) -> Desk:
    names = [f"a{i}" for i in range(n)]
    return Desk(make_config({"d": "round-robin"}, [agent(x, ["d"], chat=100) for x in names]))


@pytest.mark.parametrize(("n", "k"), [(1, 3), (3, 4), (5, 2)])
def test_round_robin_is_fair_through_transitions(n: int, k: int) -> None:
    desk = rr_desk(n)
    desk.online(*[f"a{i}" for i in range(n)])
    got = [assignments(desk.ticket(f"t{i}", "d", "chat"))[0][1] for i in range(k * n)]
    assert Counter(got) == {f"a{i}": k for i in range(n)}
    assert got[:n] == [f"a{i}" for i in range(n)]
    assert desk.department("d").cursors == {"chat": (k * n - 1) % n}


def test_round_robin_skips_unavailable_agents_without_losing_the_place() -> None:
    desk = rr_desk(4)
    desk.online("a0", "a1", "a2", "a3")
    pick = lambda tid: assignments(desk.ticket(tid, "d", "chat"))[0][1]  # noqa: E731
    assert pick("t1") == "a0"
    desk.send(presence("b1", "a1", "break"))
    assert pick("t2") == "a2"  # a1 skipped
    desk.send(presence("b2", "a1", "online"))
    assert pick("t3") == "a3"  # continues after a2, a1 does not jump in
    assert pick("t4") == "a0"  # wraps
    assert pick("t5") == "a1"


def test_round_robin_stays_fair_when_a_membership_is_listed_twice() -> None:
    """Configs from the config topic are decoded, not re-validated: x lists d twice.

    Round robin must still alternate x, y; it must not starve y.
    """
    desk = Desk(
        make_config(
            {"d": "round-robin"},
            [agent("x", ["d", "d"], chat=99), agent("y", ["d"], chat=99)],
        )
    )
    desk.online("x", "y")
    got = [assignments(desk.ticket(f"t{i}", "d", "chat"))[0][1] for i in range(6)]
    assert Counter(got) == {"x": 3, "y": 3}


def test_round_robin_cursor_is_per_channel() -> None:
    desk = Desk(make_config({"d": "round-robin"}, [agent(x, ["d"], chat=9, email=9) for x in "xy"]))
    desk.online("x", "y")
    assert assignments(desk.ticket("c1", "d", "chat")) == [("c1", "x")]
    assert assignments(desk.ticket("e1", "d", "email")) == [("e1", "x")]
    assert assignments(desk.ticket("c2", "d", "chat")) == [("c2", "y")]


def test_per_channel_strategy_is_used() -> None:
    dept = DepartmentConfig(
        "d", strategy="least-load", strategies={"call": "round-robin"}, offer_timeout_s={}
    )
    desk = Desk(make_config({"d": dept}, [agent("x", ["d"], call=1, email=1)]))
    desk.online("x")
    assert only(desk.ticket("c1", "d", "call"), TicketAssigned).strategy == "round-robin"
    assert only(desk.ticket("e1", "d", "email"), TicketAssigned).strategy == "least-load"


# --- purity -------------------------------------------------------------------------


def test_handlers_do_not_mutate_state_and_are_repeatable(desk: Desk) -> None:
    desk.online("ann")
    desk.ticket("t1", "sales", "chat")
    snapshot = repr(desk.state)
    ev = routed("t2", "sales", "chat")
    first = on_ticket_routed(desk.state, desk.config, ev, 50.0)
    second = on_ticket_routed(desk.state, desk.config, ev, 50.0)
    assert repr(desk.state) == snapshot
    assert first == second
    fin = finished("f1", "ann", "t1")
    assert on_agent_event(desk.state, desk.config, fin, 51.0) == on_agent_event(
        desk.state, desk.config, fin, 51.0
    )
    assert repr(desk.state) == snapshot


def test_tenants_do_not_share_state() -> None:
    state = MemoryState()
    cfg_a = make_config({"d": "least-load"}, [agent("x", ["d"], chat=1)], tenant="a")
    cfg_b = make_config({"d": "least-load"}, [agent("x", ["d"], chat=1)], tenant="b")
    step(state, cfg_a, presence("e1", "x", "online", tenant="a"), 1.0)
    assert not step(state, cfg_b, presence("e1", "x", "online", tenant="b"), 2.0).duplicate
    step(state, cfg_a, routed("t1", "d", tenant="a"), 3.0)
    t = step(state, cfg_b, routed("t1", "d", tenant="b"), 4.0)
    assert not t.duplicate
    assert assignments(t) == [("t1", "x")]


# --- a rule's preferred agent ------------------------------------------------------


def routed_to(ticket_id: str, dept: str, channel: str, preferred: str) -> TicketRouted:
    return TicketRouted(
        ticket_id,
        TENANT,
        channel,
        "src",
        f"conv-{ticket_id}",
        dept,
        "r",
        1,  # type: ignore[arg-type]
        3,
        0.0,
        0.0,
        0.0,
        preferred_agent=preferred,
    )


def test_preferred_agent_gets_the_ticket_over_the_strategy() -> None:
    desk = Desk(
        make_config({"D": "least-load"}, [agent("a", ["D"], chat=3), agent("b", ["D"], chat=3)])
    )
    desk.online("a")
    desk.online("b")
    desk.ticket("t0", "D", "chat")  # a now has 1 chat: least load would pick b
    t = desk.send(routed_to("t1", "D", "chat", "a"))
    (assigned,) = [e for e in t.emitted if isinstance(e, TicketAssigned)]
    assert (assigned.agent_id, assigned.strategy) == ("a", "preferred-agent")
    assert desk.open_work("a", "chat") == ("t0", "t1")


def test_unavailable_preferred_agent_falls_back_and_says_why() -> None:
    desk = Desk(
        make_config({"D": "least-load"}, [agent("a", ["D"], chat=1), agent("b", ["D"], chat=1)])
    )
    desk.online("b")  # a is offline
    t = desk.send(routed_to("t1", "D", "chat", "a"))
    assert assignments(t) == [("t1", "b")]
    t = desk.send(routed_to("t2", "D", "chat", "a"))  # b is full now, a still offline
    queued = only(t, TicketQueued)
    assert queued.reason.startswith("preferred agent a: offline; no agent available")
