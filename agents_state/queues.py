"""Waiting work as a derived, in-memory index over ticket rows.

A ticket row says everything its place in line depends on: it waits in its
(department, channel)'s queue while its status is ``queued`` and it is not pull
work, in that pair's pull list while it is queued pull work, and it is served by
(priority, enqueued_at, ticket_id). So the line is not stored anywhere: storing
it in the department row made every join and leave copy the whole line and, in
the worker, write all of it to the changelog with every department write (a
10,000-item queue cost about a megabyte per event). Here each line is a sorted
list that follows the ticket rows written, O(log n) per join or leave.

Like the agent index (:mod:`agents_state.index`) it is derived state only: built
lazily from a tenant's ticket rows (one pass) when first asked for, it follows
every ticket row a transition writes as the transition is decided, and it is put
back to the rows for the writes of a transition that was never applied
(:meth:`TenantQueues.settle`). It never decides anything the rows do not say.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator

from sortedcontainers import SortedKeyList  # type: ignore[import-untyped]

from agents_state.model import KEY_SEP, QueueEntry, TicketState, builder

_sort_key = QueueEntry.sort_key
#: ``QueueEntry`` for the entry every waiting ticket gets, at half the cost.
_new_entry = builder(QueueEntry)


def entry_of(ticket: TicketState) -> QueueEntry:
    """The queue entry a waiting ticket row stands for.

    ``constrained`` (only some agents may take it) follows the row, as every other
    field does: a row's skills and missed offers only change while it is not waiting
    (it is offered, or assigned), so this is what the entry held when it was
    enqueued, and for a row written by an older version it is what it should be.
    """
    constrained = bool(ticket.skills or ticket.optional_skills or ticket.missed_by)
    return _new_entry(
        ticket.ticket_id, ticket.priority, ticket.enqueued_at, ticket.ingested_at, constrained
    )


#: A line longer than this is kept in a :class:`SortedKeyList` (O(log n) per join or
#: leave); a shorter one in two plain lists, whose C-level bisect and insert cost a
#: fraction of that at the lengths most lines have (a few, in the simulator). It goes
#: back to plain lists below a quarter of this, so a line near the limit does not
#: switch back and forth.
LONG = 512

SortKey = tuple[int, float, str]


class Waiting:
    """One line (a department's queue, or its pull list, for one channel) in service order."""

    __slots__ = ("constrained", "entries", "keys", "long")

    def __init__(self, entries: Iterable[QueueEntry] = ()) -> None:
        ordered = sorted(entries, key=_sort_key)
        #: Entries only some agents may take: with none, and no wait threshold, a
        #: clock tick has nothing to look at in this line.
        self.constrained = sum(1 for e in ordered if e.constrained)
        #: A short line: the entries and their service keys, in service order.
        self.entries: list[QueueEntry] = ordered
        self.keys: list[SortKey] = [e.sort_key() for e in ordered]
        #: A long line (then ``entries`` and ``keys`` are empty).
        self.long: SortedKeyList | None = None
        if len(ordered) > LONG:
            self._lengthen()

    def _lengthen(self) -> None:
        self.long = SortedKeyList(self.entries, key=_sort_key)
        self.entries, self.keys = [], []

    def _shorten(self) -> None:
        assert self.long is not None
        self.entries = list(self.long)
        self.keys = [e.sort_key() for e in self.entries]
        self.long = None

    def __len__(self) -> int:
        long = self.long
        return len(self.entries) if long is None else len(long)

    def __iter__(self) -> Iterator[QueueEntry]:
        long = self.long
        return iter(self.entries if long is None else long)

    def __getitem__(self, i: int) -> QueueEntry:
        long = self.long
        entry: QueueEntry = self.entries[i] if long is None else long[i]
        return entry

    def add(self, entry: QueueEntry) -> None:
        self.constrained += entry.constrained
        long = self.long
        if long is not None:
            long.add(entry)
            return
        key = (entry.priority, entry.enqueued_at, entry.ticket_id)
        keys = self.keys
        if not keys or key > keys[-1]:  # most work is the newest of its priority
            keys.append(key)
            self.entries.append(entry)
        else:
            i = bisect.bisect_right(keys, key)
            keys.insert(i, key)
            self.entries.insert(i, entry)
        if len(keys) > LONG:
            self._lengthen()

    def remove(self, entry: QueueEntry) -> None:
        long = self.long
        if long is not None:
            long.remove(entry)
            if len(long) < LONG // 4:
                self._shorten()
        else:
            key = (entry.priority, entry.enqueued_at, entry.ticket_id)
            keys = self.keys
            i = bisect.bisect_left(keys, key)
            if i == len(keys) or keys[i] != key:
                raise ValueError(f"{entry!r} is not in line")
            del keys[i]
            del self.entries[i]
        self.constrained -= entry.constrained

    def position(self, entry: QueueEntry) -> int:
        """Where ``entry`` stands (0: served next); it must be in line."""
        long = self.long
        if long is not None:
            i: int = long.index(entry)
            return i
        i = bisect.bisect_left(self.keys, entry.sort_key())
        if i == len(self.keys) or self.entries[i] != entry:
            raise ValueError(f"{entry!r} is not in line")
        return i

    def entered_between(self, lo: float, hi: float) -> list[QueueEntry]:
        """The entries enqueued at ``lo`` <= time <= ``hi``, in service order.

        Within a priority the line is ordered by enqueue time, so this is one range
        per priority present: O(priorities · log n + found), not a pass over the line.
        """
        long = self.long
        first: Callable[[SortKey], int]
        if long is None:
            keys, entries = self.keys, self.entries

            def first(key: SortKey) -> int:
                return bisect.bisect_left(keys, key)

            def between(start: int, end: int) -> Iterable[QueueEntry]:
                return entries[start:end]
        else:
            first = long.bisect_key_left

            def between(start: int, end: int) -> Iterable[QueueEntry]:
                found: Iterable[QueueEntry] = long.islice(start, end)
                return found

        out: list[QueueEntry] = []
        i, n = 0, len(self)
        above = math.nextafter(hi, math.inf)
        while i < n:
            priority = self[i].priority
            out.extend(between(first((priority, lo, "")), first((priority, above, ""))))
            i = first((priority, math.inf, ""))
        return out

    def oldest(self) -> float:
        """When the longest-waiting entry was enqueued (``math.inf`` for an empty line).

        The head of the line is the most urgent entry, not the oldest: an old
        low-priority ticket waits behind newer urgent ones. Within a priority the
        first entry is the oldest, so this reads one entry per priority present.
        """
        first: Callable[[SortKey], int]
        if self.long is None:
            keys = self.keys

            def first(key: SortKey) -> int:
                return bisect.bisect_left(keys, key)
        else:
            first = self.long.bisect_key_left
        found, i, n = math.inf, 0, len(self)
        while i < n:
            entry = self[i]
            found = min(found, entry.enqueued_at)
            i = first((entry.priority, math.inf, ""))
        return found


#: What an absent line reads as; never written (lines are made by ``TenantQueues._new_line``).
NO_LINE = Waiting()


class TenantQueues:
    """Every line of one tenant, with the rows it was derived from."""

    __slots__ = ("decided", "held", "pending", "pulls", "queues")

    def __init__(self) -> None:
        #: department -> channel -> the work that waits to be assigned.
        self.queues: dict[str, dict[str, Waiting]] = {}
        #: department -> channel -> the work that waits for an agent to take it.
        self.pulls: dict[str, dict[str, Waiting]] = {}
        #: ticket -> (the row it waits as, its entry, its line), for waiting tickets:
        #: writing the same row again (a transition applied after it was decided)
        #: changes nothing.
        self.held: dict[str, tuple[TicketState, QueueEntry, Waiting]] = {}
        #: Tickets whose place may follow a transition's writes, not the rows.
        self.pending: set[str] = set()
        #: The transition those writes belong to (only the last one decided can have
        #: any): when that one is applied, every pending place is its row's already.
        self.decided: object = None

    @classmethod
    def built(cls, rows: Iterable[TicketState]) -> TenantQueues:
        """The lines of these ticket rows (one tenant's), each sorted once."""
        found = cls()
        grouped: dict[tuple[bool, str, str], list[tuple[TicketState, QueueEntry]]] = {}
        for row in rows:
            if row.status == "queued":
                key = (row.pull, row.department, row.channel)
                grouped.setdefault(key, []).append((row, entry_of(row)))
        for (pull, dept_id, channel), held in grouped.items():
            line = Waiting(e for _, e in held)
            (found.pulls if pull else found.queues).setdefault(dept_id, {})[channel] = line
            for row, entry in held:
                found.held[row.ticket_id] = (row, entry, line)
        return found

    def get(self, dept_id: str, channel: str, pull: bool = False) -> Waiting:
        """The line (empty if nothing ever waited there); read only."""
        lines = (self.pulls if pull else self.queues).get(dept_id)
        if lines is None:
            return NO_LINE
        return lines.get(channel, NO_LINE)

    def channels(self, dept_id: str) -> dict[str, Waiting]:
        """channel -> the department's queue (pull lists aside); read only."""
        return self.queues.get(dept_id, {})

    def _new_line(self, ticket: TicketState) -> Waiting:
        lines = (self.pulls if ticket.pull else self.queues).setdefault(ticket.department, {})
        line = lines[ticket.channel] = Waiting()
        return line

    def update(self, ticket: TicketState) -> None:
        """Follow the ticket's row: it joins, leaves or moves in line as the row says."""
        ticket_id = ticket.ticket_id
        held = self.held
        old = held.get(ticket_id)
        if old is None:
            if ticket.status != "queued":
                return  # most writes: work that does not wait, and did not
        elif old[0] is ticket:
            return
        elif ticket.status != "queued":
            old[2].remove(old[1])
            del held[ticket_id]
            return
        entry = entry_of(ticket)
        lines = (self.pulls if ticket.pull else self.queues).get(ticket.department)
        line = None if lines is None else lines.get(ticket.channel)
        if line is None:
            line = self._new_line(ticket)
        if old is not None:
            if old[2] is line and old[1] == entry:
                self.held[ticket_id] = (ticket, old[1], line)
                return  # same place in the same line (tags, times of other fields)
            old[2].remove(old[1])
        line.add(entry)
        self.held[ticket_id] = (ticket, entry, line)

    def forget(self, ticket_id: str) -> None:
        """The ticket's row is gone."""
        old = self.held.pop(ticket_id, None)
        if old is not None:
            old[2].remove(old[1])

    def entry(self, ticket_id: str) -> QueueEntry | None:
        """The ticket's entry, if it waits."""
        held = self.held.get(ticket_id)
        return None if held is None else held[1]

    def settle(self, read: Callable[[str], TicketState | None], prefix: str) -> None:
        """Back to the rows (``read(prefix + ticket_id)``): ticket writes of a transition
        that was not applied leave the lines (those of one that was are the rows now,
        and change nothing)."""
        for ticket_id in self.pending:
            row = read(prefix + ticket_id)
            if row is None:
                self.forget(ticket_id)
            else:
                self.update(row)
        self.pending.clear()
        self.decided = None


def tenant_rows(tickets: Iterable[tuple[str, TicketState]], tenant: str) -> Iterator[TicketState]:
    """The ticket rows of one tenant among (table key, row) pairs."""
    prefix = tenant + KEY_SEP
    return (row for key, row in tickets if key.startswith(prefix))


class QueueIndex:
    """Every tenant's :class:`TenantQueues` over one state (one per state object)."""

    __slots__ = ("tenants",)

    def __init__(self) -> None:
        self.tenants: dict[str, TenantQueues] = {}

    def for_tenant(
        self,
        tenant: str,
        rows: Callable[[], Iterable[TicketState]],
        read: Callable[[str], TicketState | None],
    ) -> TenantQueues:
        """The tenant's lines, built from ``rows()`` the first time, settled against
        ``read`` (a table read by key) after that."""
        found = self.tenants.get(tenant)
        if found is None:
            found = self.tenants[tenant] = TenantQueues.built(rows())
        elif found.pending:
            found.settle(read, tenant + KEY_SEP)
        return found

    def applied(self, transition: object, tickets: dict[str, TicketState]) -> None:
        """The ticket rows of ``transition`` (by table key, ``tenant SEP id``) were
        written: each ticket stands where its row says.

        The usual case costs nothing per row: the transition was decided on this
        state, its writes are the places held already, and only the record that
        they may not be the rows is dropped."""
        for found in self.tenants.values():
            if found.decided is transition:
                found.pending.clear()
                found.decided = None
                return
        for key, ticket in tickets.items():
            held = self.tenants.get(key.partition(KEY_SEP)[0])
            if held is not None:
                held.update(ticket)

    def clear(self) -> None:
        self.tenants.clear()
