"""The assignment stage's view of its state table: the rows the pure core reads, the
waiting work it derives from the ticket rows, and who may take work, derived from
the agent rows.

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

The pools of who may take work (:mod:`agents_state.index`) are kept the same way,
so a decision in a department of 10,000 agents does not read 10,000 agent rows:
they follow the core's agent writes, and are forgotten with the lines when the
generation moves (a pool is built from the rows when it is first asked for).
"""

from __future__ import annotations

from typing import Any

from agents_state.index import RouteIndex, TenantIndex, worth_indexing
from agents_state.model import TicketState
from agents_state.queues import QueueIndex, TenantQueues
from agents_state.transitions import Transition
from schemas.tenant_config import TenantConfig
from streams.state_table import AGENT, DEPARTMENT, SEEN, SEP, TICKET, View


class TableView:
    """The four kinds of rows of one :class:`~streams.state_table.AtomicTable`, read by
    the core's keys, and the waiting work and agent pools derived from them."""

    __slots__ = (
        "_generation",
        "_indexed",
        "_pools",
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
        self._pools = RouteIndex()
        #: tenant -> (its config, whether its departments are large enough for pools).
        self._indexed: dict[str, tuple[TenantConfig, bool]] = {}
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
            self._pools.clear()

    def waiting(self, tenant: str) -> TenantQueues:
        self._fresh()
        return self._queues.for_tenant(tenant, lambda: self._rows_of(tenant), self.tickets.get)

    def agent_index(self, config: TenantConfig) -> TenantIndex | None:
        # Pools are built from the agent rows as they are first asked for, so forgetting
        # them is all a change behind the core's back needs.
        known = self._indexed.get(config.tenant)
        if known is None or known[0] is not config:
            known = self._indexed[config.tenant] = (config, worth_indexing(config))
        if not known[1]:
            return None  # small departments: the scan is cheaper
        self._fresh()
        return self._pools.settled(config, self.agents.get)

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
        if t.agents and self._pools.tenants:
            self._pools.applied(t.agents)


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
