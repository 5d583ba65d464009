"""Which state rows may leave the table, and when: a time-ordered index, free of Faust.

Rows that only serve deduplication and history expire after a retention window:
tickets that reached a final status (finished, withdrawn, unroutable), keyed by
their last change, and ``seen`` rows of agent events, keyed by the event's time.
Everything else (agents, departments, open tickets, waiting ones among them, markers)
is live state and stays.

The index is derived from the table: the shell notes every row it writes or
recovers, so after a restart it is rebuilt from the changelog like the table
itself. A sweep pops only what is due, so it costs O(expired · log n), never a
scan of the table. Entries are per routing domain (tenant): a tick of one tenant
deletes that tenant's rows only, on that tenant's own partition.
"""

from __future__ import annotations

import heapq
from typing import Any

from agents_state.model import TicketState

#: Ticket statuses after which nothing happens to a ticket any more.
FINAL_STATUSES = frozenset({"finished", "withdrawn", "unroutable"})
SEP = "\x1f"
TICKET_KIND = "T"
SEEN_KIND = "S"


def expires_from(key: str, value: Any) -> float | None:
    """The time a row's retention counts from, or None if the row never expires.

    ``key`` is a table key (``kind SEP tenant SEP id``).
    """
    kind = key[:1]
    if kind == TICKET_KIND:
        if isinstance(value, TicketState) and value.status in FINAL_STATUSES:
            return value.updated_at
        return None
    if kind == SEEN_KIND and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def tenant_of(key: str) -> str:
    """The routing domain of a table key (``kind SEP tenant SEP id``)."""
    return key.split(SEP, 2)[1] if key.count(SEP) >= 2 else ""


class ExpiryIndex:
    """Expirable keys of one tenant, ordered by the time their retention counts from."""

    __slots__ = ("_at", "_heap")

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._at: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._at)

    def note(self, key: str, at: float) -> None:
        """``key`` is expirable, its retention counting from ``at`` (replaces an older note)."""
        if self._at.get(key) == at:
            return
        self._at[key] = at
        heapq.heappush(self._heap, (at, key))
        if len(self._heap) > 2 * len(self._at) + 1024:
            self._compact()

    def forget(self, key: str) -> None:
        """``key`` is gone or no longer expirable."""
        self._at.pop(key, None)

    def due(self, cutoff: float) -> list[str]:
        """Remove and return the keys whose time is before ``cutoff``, oldest first."""
        heap, at = self._heap, self._at
        out: list[str] = []
        while heap and heap[0][0] < cutoff:
            when, key = heapq.heappop(heap)
            if at.get(key) == when:
                del at[key]
                out.append(key)
        return out

    def _compact(self) -> None:
        self._heap = [(when, key) for key, when in self._at.items()]
        heapq.heapify(self._heap)


class Expiries:
    """One :class:`ExpiryIndex` per tenant, fed with every row written or recovered."""

    __slots__ = ("_by_tenant",)

    def __init__(self) -> None:
        self._by_tenant: dict[str, ExpiryIndex] = {}

    def __len__(self) -> int:
        return sum(len(i) for i in self._by_tenant.values())

    def row(self, key: str, value: Any) -> None:
        """A row was written (``value`` None: deleted)."""
        kind = key[:1]
        if kind != TICKET_KIND and kind != SEEN_KIND:
            return
        at = None if value is None else expires_from(key, value)
        tenant = tenant_of(key)
        index = self._by_tenant.get(tenant)
        if at is None:
            if index is not None:
                index.forget(key)
            return
        if index is None:
            index = self._by_tenant[tenant] = ExpiryIndex()
        index.note(key, at)

    def drop(self, tenant: str) -> None:
        """Forget a tenant whose rows left this worker (its partition was revoked)."""
        self._by_tenant.pop(tenant, None)

    def due(self, tenant: str, cutoff: float) -> list[str]:
        index = self._by_tenant.get(tenant)
        return index.due(cutoff) if index is not None else []
