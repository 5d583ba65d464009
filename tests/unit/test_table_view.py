"""The worker's view of its state table: waiting work derived from the ticket rows,
and the pools of who may take work derived from the agent rows, follow the core's
decisions, and are built again from the rows after they changed behind the core's
back (recovery, a partition taken away).

Driven without a broker, as in test_state_table: changelog records are fed to the
table as Faust's recovery feeds them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from agents_state import (
    AgentState,
    DepartmentState,
    TicketState,
    on_agent_event,
    on_ticket_routed,
)
from agents_state.index import INDEX_FROM
from agents_state.model import QueueEntry
from schemas.events import TicketAssigned, TicketQueued
from streams.state_table import (
    AGENT,
    DEPARTMENT,
    SEP,
    TICKET,
    AtomicTable,
    Marker,
    StateCodec,
    _Row,
    _RowMessage,
)
from streams.table_view import TableView

from .builders import agent, make_config, presence, routed
from .changelog import HOME, Log, changelog_tps, memory_table

CONFIG = {
    t: make_config({"d": "least-load"}, [agent("ann", ["d"], chat=1)], tenant=t) for t in HOME
}


def ticket_key(tenant: str, ticket_id: str) -> str:
    return f"{TICKET}{SEP}{tenant}{SEP}{ticket_id}"


def waiting_row(ticket_id: str, at: float, priority: int = 3) -> TicketState:
    return TicketState(ticket_id, "queued", "d", "chat", priority, at, at, enqueued_at=at)


@pytest.fixture
def table() -> AtomicTable:
    return memory_table("table-view-test")


def line(view: TableView, tenant: str, channel: str = "chat") -> list[str]:
    return [e.ticket_id for e in view.waiting(tenant).get("d", channel)]


def decide_and_stage(table: AtomicTable, view: TableView, t: Any, partition: int) -> None:
    """What the assignment stage does with a transition: stage its rows, then tell the view."""
    rows = [
        (kind + SEP + key, row)
        for kind, changed in ((AGENT, t.agents), (DEPARTMENT, t.departments), (TICKET, t.tickets))
        for key, row in changed.items()
    ]
    table.stage(partition, rows, Marker(), [], _Row(None, None, _RowMessage(partition, 0, None)))
    view.apply(t)


def test_lines_are_built_from_recovered_rows_and_rebuilt_after_a_rebalance(
    table: AtomicTable,
) -> None:
    one, two = Log(1), Log(2)
    table.apply_changelog_batch(
        [
            one.row(ticket_key("acme", "late"), waiting_row("late", 20.0)),
            one.row(ticket_key("acme", "early"), waiting_row("early", 10.0)),
            one.row(ticket_key("acme", "urgent"), waiting_row("urgent", 30.0, priority=1)),
            one.marker(0),
            two.row(ticket_key("globex", "g1"), waiting_row("g1", 5.0)),
            two.marker(0),
        ]
    )
    asyncio.run(table._close_recovery({1, 2}))
    view = TableView(table)
    assert line(view, "acme") == ["urgent", "early", "late"]
    assert line(view, "globex") == ["g1"]

    # A read between a decision and its staging (a metrics scrape while the stage
    # sends the outputs) sees the rows; once staged, the work is in line.
    t = on_ticket_routed(view, CONFIG["acme"], routed("new", "d", tenant="acme"), 40.0)
    assert line(view, "acme") == ["urgent", "early", "late"]
    decide_and_stage(table, view, t, 1)
    assert line(view, "acme") == ["urgent", "early", "late", "new"]

    # The partition of acme is taken away: its rows leave, and so do its lines.
    asyncio.run(table.on_rebalance(changelog_tps(table, 2), changelog_tps(table, 1), set()))
    assert line(view, "acme") == []
    assert line(view, "globex") == ["g1"]

    # Given back later, acme is recovered from its changelog, and its lines with it.
    asyncio.run(table.on_rebalance(changelog_tps(table, 1, 2), set(), changelog_tps(table, 1)))
    table.apply_changelog_batch(
        [one.row(ticket_key("acme", "back"), waiting_row("back", 1.0)), one.marker(1)]
    )
    asyncio.run(table._close_recovery({1, 2}))
    assert line(view, "acme") == ["back"]


def test_rows_recovered_after_the_lines_were_built_are_in_line(table: AtomicTable) -> None:
    """Changelog records applied late (the embedded broker's short end offset, read
    on by ``_read_tails``) change rows without the core: the lines follow them."""
    log = Log(1)
    table.apply_changelog_batch(
        [log.row(ticket_key("acme", "a"), waiting_row("a", 1.0)), log.marker(0)]
    )
    view = TableView(table)
    assert line(view, "acme") == ["a"]
    table.apply_changelog_batch(
        [
            log.row(
                ticket_key("acme", "a"), TicketState("a", "finished", "d", "chat", 3, 1.0, 2.0)
            ),
            log.row(ticket_key("acme", "b"), waiting_row("b", 2.0)),
            log.marker(1),
        ]
    )
    assert line(view, "acme") == ["b"]


def test_a_decision_that_was_never_staged_leaves_the_lines(table: AtomicTable) -> None:
    """The core failed half way, or the worker lost the partition before staging: the
    next decision starts from the rows."""
    view = TableView(table)
    config = CONFIG["acme"]
    on_ticket_routed(view, config, routed("ghost", "d", tenant="acme"), 1.0)  # not staged
    assert line(view, "acme") == []
    t = on_ticket_routed(view, config, routed("real", "d", tenant="acme"), 2.0)
    decide_and_stage(table, view, t, 1)
    assert line(view, "acme") == ["real"]
    # A decision that assigns the head, never staged: the head is back in line.
    on_agent_event(view, config, presence("p1", "ann", "online", tenant="acme"), 3.0)
    assert line(view, "acme") == ["real"]


def test_the_worker_decides_from_agent_pools_built_again_after_a_rebalance(
    table: AtomicTable,
) -> None:
    """The worker's decisions come from the agent index too; rows recovered behind
    its back (here: ann's load, as another worker left it) are what it decides from."""
    log = Log(1)
    # A department large enough to be served from the pools (others take no chats).
    others = [agent(f"x{i}", ["d"], chat=0) for i in range(INDEX_FROM)]
    config = make_config({"d": "least-load"}, [agent("ann", ["d"], chat=1), *others], tenant="acme")
    ann = f"{AGENT}{SEP}acme{SEP}ann"
    table.apply_changelog_batch([log.row(ann, AgentState("ann", "online")), log.marker(0)])
    asyncio.run(table._close_recovery({1, 2}))
    view = TableView(table)
    assert view.agent_index(config) is not None
    assert view.agent_index(CONFIG["acme"]) is None  # a small department is scanned
    t = on_ticket_routed(view, config, routed("t1", "d", tenant="acme"), 1.0)
    assert [type(e) for e in t.emitted] == [TicketAssigned]
    decide_and_stage(table, view, t, 1)
    t = on_ticket_routed(view, config, routed("t2", "d", tenant="acme"), 2.0)
    assert [type(e) for e in t.emitted] == [TicketQueued]  # ann is at capacity
    decide_and_stage(table, view, t, 1)

    # acme moves to another worker and back; meanwhile ann finished her work there.
    asyncio.run(table.on_rebalance(changelog_tps(table, 2), changelog_tps(table, 1), set()))
    asyncio.run(table.on_rebalance(changelog_tps(table, 1, 2), set(), changelog_tps(table, 1)))
    table.apply_changelog_batch([log.row(ann, AgentState("ann", "online")), log.marker(1)])
    asyncio.run(table._close_recovery({1, 2}))
    t = on_ticket_routed(view, config, routed("t3", "d", tenant="acme"), 3.0)
    assert [(type(e), e.ticket_id) for e in t.emitted] == [(TicketAssigned, "t3")]


def test_a_department_row_written_before_the_queues_were_derived_decodes() -> None:
    """Changelogs hold department rows that still carry their queues: they decode,
    and what they carried is not read (the ticket rows say who waits)."""
    entry = {"ticket_id": "t1", "priority": 3, "enqueued_at": 1.0, "ingested_at": 1.0}
    old = {
        "queues": {"chat": [{**entry, "constrained": False}]},
        "cursors": {"chat": 2},
        "pulls": {"email": [entry]},
        "offers": [{"expires_at": 9.0, "ticket_id": "t2"}],
        "swept_at": 5.0,
    }
    row = StateCodec()._loads(DEPARTMENT.encode() + orjson.dumps(old))
    assert isinstance(row, DepartmentState)
    assert row.cursors == {"chat": 2} and row.swept_at == 5.0
    assert [o.ticket_id for o in row.offers] == ["t2"]
    assert not hasattr(row, "queues")
    # ...and a department row written now carries no waiting work at all.
    assert b"queues" not in StateCodec()._dumps(row)
    assert QueueEntry("t1", 3, 1.0, 1.0).sort_key() == (3, 1.0, "t1")
