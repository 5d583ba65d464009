"""The report's pure aggregation: counts per ticket (not per record), periods, waits,
pickup times and agent shares, and both renderings."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from schemas.events import TicketAssigned, TicketQueued, TicketRouted, TicketUnroutable
from streams.report import aggregate, parse_date, percentile, period_start, render_csv, render_table

DAY = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC).timestamp()  # a Wednesday


def routed(
    tid: str, channel: str = "email", dept: str = "support", at: float = DAY
) -> TicketRouted:
    return TicketRouted(
        tid, "acme", channel, "src", "conv", dept, "r", 1, 3, at, at + 0.1, at + 0.2
    )  # type: ignore[arg-type]


def assigned(
    tid: str,
    agent: str,
    channel: str = "email",
    dept: str = "support",
    at: float = DAY,
    waited: float = 0.0,
) -> TicketAssigned:
    return TicketAssigned(
        tid,
        "acme",
        dept,
        channel,
        agent,
        "least-load",
        {},
        at + 0.1,
        at + 0.1 + waited + 2.0,
        waited,
    )  # type: ignore[arg-type]


def queued(
    tid: str, channel: str = "email", dept: str = "support", at: float = DAY
) -> TicketQueued:
    return TicketQueued(tid, "acme", dept, channel, 3, 1, "all busy", at + 0.2)  # type: ignore[arg-type]


def unroutable(tid: str, channel: str = "email", at: float = DAY) -> TicketUnroutable:
    return TicketUnroutable(tid, "acme", channel, "no department", at + 0.2)


def test_counts_each_ticket_once_whatever_the_repeats() -> None:
    events = [
        routed("t1"),
        assigned("t1", "ann"),
        assigned("t1", "ann"),  # a resent output
        routed("t2"),
        queued("t2"),
        queued("t2"),
        assigned("t2", "bob", waited=30.0),
        routed("t3"),
        queued("t3"),
        routed("t4", dept=""),
        unroutable("t4"),
    ]
    rows = {r.department: r.summary() for r in aggregate(events).rows}
    s = rows["support"]
    assert (s["created"], s["assigned"], s["queued"], s["escalated"], s["unroutable"]) == (
        3,
        2,
        2,
        0,
        0,
    )
    assert rows["(none)"]["unroutable"] == 1 and rows["(none)"]["created"] == 1
    assert s["wait_avg_s"] == 15.0 and s["wait_p90_s"] == 30.0
    # pickup = assigned_at - received_at: 0.1 + 2 (+ 30 waited)
    assert s["pickup_avg_s"] == pytest.approx(round((2.1 + 32.1) / 2, 1))


def test_chats_and_calls_offered_answered_missed() -> None:
    events = [
        routed("c1", "chat"),
        assigned("c1", "ann", "chat"),
        routed("c2", "chat"),
        queued("c2", "chat"),
        routed("k1", "call"),
        assigned("k1", "ann", "call"),
        routed("k2", "call", dept=""),
        unroutable("k2", "call"),
    ]
    report = aggregate(events)
    s = next(r for r in report.rows if r.department == "support").summary()
    assert (s["chats_offered"], s["chats_answered"], s["chats_missed"]) == (2, 1, 1)
    assert (s["calls_offered"], s["calls_answered"], s["calls_missed"]) == (1, 1, 0)
    none = next(r for r in report.rows if r.department == "(none)").summary()
    assert (none["calls_offered"], none["calls_missed"]) == (1, 1)


def test_periods_and_window() -> None:
    assert period_start(DAY, "day") == dt.date(2026, 11, 18)
    assert period_start(DAY, "week") == dt.date(2026, 11, 16)
    assert period_start(DAY, "month") == dt.date(2026, 11, 1)
    with pytest.raises(ValueError):
        period_start(DAY, "year")
    later = DAY + 3 * 86400
    events = [
        routed("a"),
        assigned("a", "ann"),
        routed("b", at=later),
        assigned("b", "ann", at=later),
    ]
    assert [r.period.isoformat() for r in aggregate(events, "day").rows] == [
        "2026-11-18",
        "2026-11-21",
    ]
    assert [r.created for r in aggregate(events, "week").rows] == [2]
    only = aggregate(
        events, "day", start=parse_date("2026-11-19"), end=parse_date("2026-11-21", end=True)
    )
    assert [r.period.isoformat() for r in only.rows] == ["2026-11-21"]
    assert parse_date("2026-11-21", end=True) - parse_date("2026-11-21") == 86400


def test_a_ticket_without_its_routed_record_still_counts_at_its_ingest_time() -> None:
    report = aggregate([assigned("x", "ann")])
    (row,) = report.rows
    assert (row.created, row.assigned, row.period) == (1, 1, dt.date(2026, 11, 18))


def test_agent_shares_and_renderings() -> None:
    events = []
    for i, agent in enumerate(["ann", "ann", "ann", "bob"]):
        events += [routed(f"t{i}"), assigned(f"t{i}", agent)]
    report = aggregate(events)
    assert [(a["agent"], a["assignments"], a["share"]) for a in report.agent_rows()] == [
        ("ann", 3, 0.75),
        ("bob", 1, 0.25),
    ]
    table = render_table(report)
    assert table.startswith("tenant acme")
    assert "75.0%" in table and "support" in table
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [r["row"] for r in rows] == ["department", "agent", "agent"]
    assert rows[0]["created"] == "4" and rows[1]["share"] == "0.75"
    assert render_table(aggregate([])) == "no tickets in the period\n"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.9) == 0.0
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(i) for i in range(1, 11)], 0.9) == 9.0
    assert percentile([float(i) for i in range(1, 101)], 0.9) == 90.0
