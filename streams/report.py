"""``deskroute report``: per-department figures for a day, week or month, from the outcome topics.

The outcome topics are the record of what happened, so the report is computed
from them and not from a worker's tables: it needs no running worker, covers any
past period the topics still hold, and agrees with what downstream consumers saw.
The aggregation is a pure function of decoded events (:func:`aggregate`); the
reader (:func:`read_outcomes`) only fetches and decodes.

Definitions (each ticket counts once, in the period of its creation, in UTC):

- created: tickets the rule stage routed (``deskroute.tickets.routed``).
- assigned / queued / unroutable: tickets with that outcome; a ticket that
  waited and was then assigned counts as both queued and assigned.
- escalated: 0 for now: the rule action `escalate` moves a ticket to the
  overflow department, but the routed record does not yet say it was an escalation.
- chats and calls offered / answered / missed: until offers to agents exist
  (ring-all, offer with timeout), a chat or call is *offered* when it is
  created, *answered* when it is assigned, and *missed* when it never was
  (unroutable, or still waiting when the data ends).
- wait: time in a department queue (0 when an agent was free at once).
- pickup: from the message reaching deskroute to an agent holding it.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.events import TicketAssigned, TicketQueued, TicketRouted, TicketUnroutable

PERIODS = ("day", "week", "month")
NO_DEPARTMENT = "(none)"
Outcome = TicketRouted | TicketAssigned | TicketQueued | TicketUnroutable


def period_start(ts: float, period: str) -> dt.date:
    """First day (UTC) of the day, ISO week (Monday) or month holding ``ts``."""
    day = dt.datetime.fromtimestamp(ts, dt.UTC).date()
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the value a q-th of tickets did not exceed); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class DepartmentRow:
    period: dt.date
    tenant: str
    department: str
    created: int = 0
    assigned: int = 0
    queued: int = 0
    escalated: int = 0
    unroutable: int = 0
    offered: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)
    pickups: list[float] = field(default_factory=list)
    agents: Counter[str] = field(default_factory=Counter)

    def missed(self, channel: str) -> int:
        return self.offered[channel] - self.answered[channel]

    def summary(self) -> dict[str, Any]:
        """The row as named figures (seconds rounded to 0.1 s), for the table and the CSV."""
        return {
            "period": self.period.isoformat(),
            "tenant": self.tenant,
            "department": self.department,
            "created": self.created,
            "assigned": self.assigned,
            "queued": self.queued,
            "escalated": self.escalated,
            "unroutable": self.unroutable,
            "chats_offered": self.offered["chat"],
            "chats_answered": self.answered["chat"],
            "chats_missed": self.missed("chat"),
            "calls_offered": self.offered["call"],
            "calls_answered": self.answered["call"],
            "calls_missed": self.missed("call"),
            "wait_avg_s": _avg(self.waits),
            "wait_p90_s": round(percentile(self.waits, 0.9), 1),
            "pickup_avg_s": _avg(self.pickups),
            "pickup_p90_s": round(percentile(self.pickups, 0.9), 1),
        }


def _avg(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


@dataclass
class Report:
    period: str
    rows: list[DepartmentRow]

    def agent_rows(self) -> list[dict[str, Any]]:
        """Assignments per agent within each department row, with the agent's share of them."""
        out = []
        for row in self.rows:
            for agent, n in sorted(row.agents.items(), key=lambda kv: (-kv[1], kv[0])):
                out.append(
                    {
                        "period": row.period.isoformat(),
                        "tenant": row.tenant,
                        "department": row.department,
                        "agent": agent,
                        "assignments": n,
                        "share": round(n / row.assigned, 3) if row.assigned else 0.0,
                    }
                )
        return out


def aggregate(
    events: Iterable[Any],
    period: str = "day",
    start: float | None = None,
    end: float | None = None,
) -> Report:
    """Fold outcome events into one row per (period, tenant, department).

    Records may repeat (delivery is at-least-once) and arrive in any order across
    topics, so everything is keyed by ticket id first and counted once. A ticket
    belongs to the period of its creation: the routed record's ``received_at``,
    else the earliest time any of its records carries. ``start``/``end`` (epoch
    seconds, end exclusive) keep the tickets created in that window.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    routed: dict[tuple[str, str], TicketRouted] = {}
    assigned: dict[tuple[str, str], TicketAssigned] = {}
    queued: dict[tuple[str, str], TicketQueued] = {}
    unroutable: dict[tuple[str, str], TicketUnroutable] = {}
    for e in events:
        if isinstance(e, TicketRouted):
            routed.setdefault((e.tenant, e.ticket_id), e)
        elif isinstance(e, TicketAssigned):
            key = (e.tenant, e.ticket_id)
            if key not in assigned or e.assigned_at < assigned[key].assigned_at:
                assigned[key] = e
        elif isinstance(e, TicketQueued):
            queued.setdefault((e.tenant, e.ticket_id), e)
        elif isinstance(e, TicketUnroutable):
            unroutable.setdefault((e.tenant, e.ticket_id), e)

    rows: dict[tuple[dt.date, str, str], DepartmentRow] = {}
    for key in routed.keys() | assigned.keys() | queued.keys() | unroutable.keys():
        r, a, q, u = routed.get(key), assigned.get(key), queued.get(key), unroutable.get(key)
        created_at = _created_at(r, a, q, u)
        if (start is not None and created_at < start) or (end is not None and created_at >= end):
            continue
        dept = (
            (a.department if a else "")
            or (q.department if q else "")
            or (r.department if r else "")
            or NO_DEPARTMENT
        )
        channel = str((r or a or q or u).channel)  # type: ignore[union-attr]
        bucket = (period_start(created_at, period), key[0], dept)
        row = rows.get(bucket)
        if row is None:
            row = rows[bucket] = DepartmentRow(*bucket)
        row.created += 1
        row.offered[channel] += 1
        if q is not None:
            row.queued += 1
        if u is not None and a is None:
            row.unroutable += 1
        if a is not None:
            row.assigned += 1
            row.answered[channel] += 1
            row.agents[a.agent_id] += 1
            row.waits.append(max(0.0, a.waited_s))
            arrived = r.received_at if r is not None else a.ingested_at
            row.pickups.append(max(0.0, a.assigned_at - arrived))
    return Report(period, [rows[k] for k in sorted(rows)])


def _created_at(
    r: TicketRouted | None,
    a: TicketAssigned | None,
    q: TicketQueued | None,
    u: TicketUnroutable | None,
) -> float:
    if r is not None:
        return r.received_at
    times = [
        t
        for t in (
            a.ingested_at if a else None,
            q.queued_at if q else None,
            u.occurred_at if u else None,
        )
        if t is not None
    ]
    return min(times)


TABLE_COLUMNS = (
    ("period", "period"),
    ("department", "department"),
    ("created", "created"),
    ("assigned", "assigned"),
    ("queued", "queued"),
    ("escalated", "escal."),
    ("unroutable", "unrout."),
    ("chats_offered", "chat off"),
    ("chats_answered", "ans"),
    ("chats_missed", "miss"),
    ("calls_offered", "call off"),
    ("calls_answered", "ans"),
    ("calls_missed", "miss"),
    ("wait_avg_s", "wait avg"),
    ("wait_p90_s", "p90"),
    ("pickup_avg_s", "pickup avg"),
    ("pickup_p90_s", "p90"),
)


def _grid(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 2) -> list[str]:
    """Columns padded to their widest cell: the first ``left`` (names) flush left, figures right."""
    cells = [list(header)] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return [
        "  ".join(
            c.ljust(w) if i < left or n == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for n, r in enumerate(cells)
    ]


def render_table(report: Report) -> str:
    """The report as a person reads it in a terminal: departments, then agents."""
    if not report.rows:
        return "no tickets in the period\n"
    out: list[str] = []
    tenants = sorted({r.tenant for r in report.rows})
    for tenant in tenants:
        rows = [r.summary() for r in report.rows if r.tenant == tenant]
        out.append(f"tenant {tenant} — by {report.period} (UTC), seconds")
        out += _grid(
            [h for _, h in TABLE_COLUMNS], [[r[k] for k, _ in TABLE_COLUMNS] for r in rows]
        )
        agents = [a for a in report.agent_rows() if a["tenant"] == tenant]
        if agents:
            out.append("")
            out += _grid(
                ["period", "department", "agent", "assignments", "share"],
                [
                    [
                        a["period"],
                        a["department"],
                        a["agent"],
                        a["assignments"],
                        f"{a['share']:.1%}",
                    ]
                    for a in agents
                ],
                left=3,
            )
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = (
    "row",
    *(k for k in DepartmentRow(dt.date.min, "", "").summary()),
    "agent",
    "assignments",
    "share",
)


def render_csv(report: Report) -> str:
    """One rectangular table for a spreadsheet: department rows, then agent rows."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    for r in report.rows:
        writer.writerow({"row": "department", **r.summary()})
    for a in report.agent_rows():
        writer.writerow({"row": "agent", **a})
    return buf.getvalue()


def parse_date(text: str, *, end: bool = False) -> float:
    """``YYYY-MM-DD`` or an ISO timestamp (UTC unless it says otherwise) as epoch seconds.

    A bare date given as the end of a range means the end of that day, so
    ``--from 2026-11-01 --to 2026-11-30`` is all of November.
    """
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if end and len(text) == 10:
        value += dt.timedelta(days=1)
    return value.timestamp()


# -- the thin reader ----------------------------------------------------------


async def read_outcomes(settings: Any, idle_ms: int = 500) -> list[Outcome]:
    """Every routed and outcome record from the beginning of the topics, decoded.

    Reads up to the end offsets taken at the start, then on until a poll returns
    nothing (the embedded broker under-reports a partition's end); records that
    are not outcomes (agent events relayed through the routed topic, foreign or
    malformed records) are skipped.
    """

    from schemas.codec import DecodeError, decode
    from streams import topics
    from streams.admin import reader

    names = (topics.ROUTED, topics.ASSIGNED, topics.QUEUED, topics.UNROUTABLE)
    consumer = reader(settings)
    await consumer.start()
    out: list[Outcome] = []
    try:
        from aiokafka import TopicPartition

        tps = [
            TopicPartition(t, p)
            for t in names
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while True:
            batches = await consumer.getmany(timeout_ms=idle_ms)
            for tp, records in batches.items():
                for rec in records:
                    try:
                        event = decode(rec.value or b"")
                    except DecodeError:
                        continue
                    if isinstance(event, Outcome):
                        out.append(event)
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
            if not batches and not pending:
                return out
    finally:
        await consumer.stop()


def run_report(
    settings: Any,
    period: str,
    as_csv: bool,
    start: float | None,
    end: float | None,
    tenant: str = "",
) -> str:
    events = asyncio.run(read_outcomes(settings))
    if tenant:
        events = [e for e in events if e.tenant == tenant]
    report = aggregate(events, period, start, end)
    return render_csv(report) if as_csv else render_table(report)
