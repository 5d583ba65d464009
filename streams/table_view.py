"""The assignment stage's view of its state table: the rows the pure core reads, and
the waiting work it derives from the ticket rows.

The core reads waiting work from an index over ticket rows
(:mod:`agents_state.queues`), not from stored queues, so the worker keeps one
beside its table. It follows what the core decides (the transition's ticket
writes, as they are decided) and what the stage applies (:meth:`TableView.apply`,
normally the same rows again). Rows also change without the core: recovery from
the changelog at start and after a rebalance, the rows of partitions taken away
being dropped. Those move the table's generation; the view then forgets every
tenant's lines and builds each again, when it is next asked for, from the rows.
One pass over the table's ticket rows serves every tenant, so a rebalance costs
one scan, not one per tenant.

Expiry's deletions go through the stage without moving the generation: they
remove finished, withdrawn and unroutable work, which waits in no line.
"""

from __future__ import annotations

from typing import Any

from agents_state.model import TicketState
from agents_state.queues import QueueIndex, TenantQueues
from agents_state.transitions import Transition
from streams.state_table import AGENT, DEPARTMENT, SEEN, SEP, TICKET, View


class TableView:
    """The four kinds of rows of one :class:`~streams.state_table.AtomicTable`, read by
    the core's keys, and the waiting work derived from them."""

    __slots__ = (
        "_generation",
        "_queued",
        "_queues",
        "agents",
        "departments",
        "seen",
        "table",
        "tickets",
    )

    def __init__(self, table: Any) -> None:
        self.table = table
        self.agents = View(table, AGENT)
        self.departments = View(table, DEPARTMENT)
        self.tickets = View(table, TICKET)
        self.seen = View(table, SEEN)
        self._queues = QueueIndex()
        self._generation: int = table.generation
        #: tenant -> its waiting ticket rows, from one pass over the table after the
        #: generation moved; each tenant's are taken when its lines are built.
        self._queued: dict[str, list[TicketState]] | None = None

    def _fresh(self) -> None:
        """Forget what was derived from rows that changed behind the core's back."""
        generation = self.table.generation
        if generation != self._generation:
            self._generation = generation
            self._queues.clear()
            self._queued = None

    def waiting(self, tenant: str) -> TenantQueues:
        self._fresh()
        return self._queues.for_tenant(tenant, lambda: self._rows_of(tenant), self.tickets.get)

    def _rows_of(self, tenant: str) -> list[TicketState]:
        # A tenant's rows change only by its own transitions (which ask for its lines
        # first, so they are built before) or out of band (which moves the generation
        # and drops this pass): what the pass found is still what the rows say.
        if self._queued is None:
            self._queued = _queued_rows(self.table)
        return self._queued.pop(tenant, [])

    def apply(self, t: Transition) -> None:
        """The stage wrote the transition's rows: their tickets stand where the rows say."""
        self._fresh()
        if t.tickets and self._queues.tenants:
            self._queues.applied(t, t.tickets)


def _queued_rows(table: Any) -> dict[str, list[TicketState]]:
    """Every waiting ticket row of the table, per tenant, in one pass."""
    store = table.data
    raw = getattr(store, "data", None)
    items = raw.items() if isinstance(raw, dict) else store.items()
    prefix = TICKET + SEP
    out: dict[str, list[TicketState]] = {}
    for key, row in items:
        if not (isinstance(key, str) and key.startswith(prefix)):
            continue
        if isinstance(row, TicketState) and row.status == "queued":
            tenant = key[len(prefix) :].partition(SEP)[0]
            out.setdefault(tenant, []).append(row)
    return out
