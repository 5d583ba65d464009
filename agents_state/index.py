"""Derived, in-memory indexes of who may take work: the assignment decision without scans.

For each (department, channel) a :class:`Pool` holds the department's agents split
into those who may take work now (online, enabled, below capacity) and those who
may not, with the reason, exactly as the scan in ``transitions._candidates``
classifies them for a ticket without skills or missed offers. The available
agents are kept sorted by department order (round robin, random, the
explanation's listing) and, per strategy that picks the least candidate by a key
(``strategies.RANK_KEYS``), by that key; the excluded ones by order within each
reason. A decision is then O(log agents) and picks what the scan would pick.

An index is derived state only: it is rebuilt lazily from the agent rows (after
a restart, on a new config version) and follows every row written to the state
it indexes. It never decides anything the rows do not say.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator

from sortedcontainers import SortedKeyList, SortedList  # type: ignore[import-untyped]

from agents_state.model import KEY_SEP, AgentState
from schemas.tenant_config import AgentConfig, TenantConfig
from strategies.base import RANK_KEYS, Candidate, Pick, PickContext, pick
from strategies.random_pick import draw_index, draw_reason

#: (load, capacity) of an agent who may take work, or why they may not.
Status = tuple[int, int] | str

#: Departments with more agents than this are served from the index; smaller ones
#: by the core's scan of the department, which is cheaper there (keeping sorted lists
#: in step costs more than looking at a few dozen rows). Same decisions either way.
INDEX_FROM = 48


def worth_indexing(config: TenantConfig) -> bool:
    """Whether the tenant has a department large enough for the index to pay."""
    return max(map(len, config.department_agents.values()), default=0) > INDEX_FROM


def status(agent: AgentState, configured: AgentConfig, channel: str) -> Status:
    """Whether the agent may take work on ``channel`` now, ticket aside."""
    override = agent.capacity_override
    capacity = override[channel] if channel in override else configured.capacity.get(channel, 0)
    if capacity <= 0:
        return "channel disabled"
    if agent.presence != "online":
        return agent.presence
    load = agent.load(channel)
    if load >= capacity:
        return "at capacity"
    return (load, capacity)


class Pool:
    """One department's agents for one channel, by whether they may take work."""

    def __init__(self, config: TenantConfig, dept_id: str, channel: str) -> None:
        self.config = config
        self.channel = channel
        self.ids = config.department_agents.get(dept_id, ())
        self.order = {agent_id: i for i, agent_id in enumerate(self.ids)}
        self.candidates: dict[str, Candidate] = {}
        self.reasons: dict[str, str] = {}
        #: Department-order positions of the available agents.
        self.available: SortedList = SortedList()
        #: reason -> department-order positions of the agents it excludes.
        self.excluded: dict[str, SortedList] = {}
        #: strategy -> available candidates sorted by its rank key (built when used).
        self.ranked: dict[str, SortedKeyList] = {}

    def set(self, agent: AgentState) -> None:
        """Follow the agent's row; only what changed moves in the sorted lists (most
        writes leave an agent available, or excluded for the same reason)."""
        agent_id = agent.agent_id
        configured = self.config.agents[agent_id]
        found = status(agent, configured, self.channel)
        order = self.order[agent_id]
        old = self.candidates.get(agent_id)
        if isinstance(found, str):
            if old is not None:
                del self.candidates[agent_id]
                self.available.remove(order)
                for ranked in self.ranked.values():
                    ranked.remove(old)
            else:
                reason = self.reasons.get(agent_id)
                if reason == found:
                    return
                if reason is not None:
                    self._unexclude(reason, order)
            self.reasons[agent_id] = found
            self.excluded.setdefault(found, SortedList()).add(order)
            return
        load, capacity = found
        cand = Candidate(
            agent_id, load, capacity, agent.last_assigned_at, configured.priority, order, 0
        )
        if old is not None:
            if old == cand:
                return
            for ranked in self.ranked.values():
                ranked.remove(old)
                ranked.add(cand)
        else:
            reason = self.reasons.pop(agent_id, None)
            if reason is not None:
                self._unexclude(reason, order)
            self.available.add(order)
            for ranked in self.ranked.values():
                ranked.add(cand)
        self.candidates[agent_id] = cand

    def _unexclude(self, reason: str, order: int) -> None:
        orders = self.excluded[reason]
        orders.remove(order)
        if not orders:
            del self.excluded[reason]

    # -- reads -------------------------------------------------------------------

    def count(self) -> int:
        return len(self.available)

    def excluded_count(self) -> int:
        return len(self.reasons)

    def first(self, n: int) -> list[Candidate]:
        """The first ``n`` available agents in department order."""
        return [self.candidates[self.ids[o]] for o in self.available.islice(0, n)]

    def everyone(self) -> list[Candidate]:
        return [self.candidates[self.ids[o]] for o in self.available]

    def excluded_first(self, n: int) -> dict[str, str]:
        """The first ``n`` excluded agents in department order, with their reasons."""
        merged: Iterator[tuple[int, str]] = heapq.merge(
            *(zip(orders, itertools.repeat(reason)) for reason, orders in self.excluded.items())
        )
        return {self.ids[o]: reason for o, reason in itertools.islice(merged, n)}

    def reason_counts(self) -> dict[str, int]:
        """Excluded agents per reason, reasons in the order they first occur."""
        firsts = sorted((orders[0], reason) for reason, orders in self.excluded.items())
        return {reason: len(self.excluded[reason]) for _, reason in firsts}

    def pick(self, strategy: str, ctx: PickContext) -> Pick | None:
        if not self.available:
            return None
        key = RANK_KEYS.get(strategy)
        if key is not None:
            ranked = self.ranked.get(strategy)
            if ranked is None:
                ranked = self.ranked[strategy] = SortedKeyList(self.candidates.values(), key=key)
            return pick(strategy, [ranked[0]], ctx)
        if strategy == "round-robin":
            i = self.available.bisect_right(ctx.cursor_order)
            order = self.available[i] if i < len(self.available) else self.available[0]
            return pick(strategy, [self.candidates[self.ids[order]]], ctx)
        if strategy == "random":
            draw = draw_index(ctx.ticket_id, len(self.available))
            chosen = self.ids[self.available[draw]]
            return Pick(chosen, draw_reason(draw, len(self.available)))
        return pick(strategy, self.everyone(), ctx)


class TenantIndex:
    """The pools of one tenant under one config version, built as they are asked for."""

    def __init__(self, config: TenantConfig) -> None:
        self.config = config
        self.pools: dict[tuple[str, str], Pool] = {}
        #: department -> its pools, one per channel asked for.
        self.by_department: dict[str, list[Pool]] = {}
        #: Agents whose pools may follow a transition's writes, not the rows.
        self.pending: set[str] = set()
        #: agent -> the row the pools hold for them: writing the same row again (a
        #: transition applied after it was decided) changes nothing.
        self.held: dict[str, AgentState] = {}

    def pool(self, dept_id: str, channel: str, read: Callable[[str], AgentState]) -> Pool:
        found = self.pools.get((dept_id, channel))
        if found is None:
            found = self.pools[(dept_id, channel)] = Pool(self.config, dept_id, channel)
            self.by_department.setdefault(dept_id, []).append(found)
            for agent_id in found.ids:
                agent = read(agent_id)
                found.set(agent)
                self.held.setdefault(agent_id, agent)
        return found

    def update(self, agent: AgentState) -> None:
        agent_id = agent.agent_id
        if self.held.get(agent_id) is agent:
            return
        configured = self.config.agents.get(agent_id)
        if configured is None:
            return
        self.held[agent_id] = agent
        for dept_id in dict.fromkeys(configured.departments):
            for p in self.by_department.get(dept_id, ()):
                p.set(agent)

    def settle(self, read: Callable[[str], AgentState | None], prefix: str) -> None:
        """Back to the rows (``read(prefix + agent_id)``): agent writes of a transition
        that was not applied leave the pools (those of one that was are the rows now,
        and change nothing)."""
        for agent_id in self.pending:
            row = read(prefix + agent_id)
            self.update(row if row is not None else AgentState(agent_id))
        self.pending.clear()


class RouteIndex:
    """Every tenant's :class:`TenantIndex` over one state (one per state object)."""

    def __init__(self) -> None:
        self.tenants: dict[str, TenantIndex] = {}

    def for_config(self, config: TenantConfig) -> TenantIndex:
        found = self.tenants.get(config.tenant)
        if found is None or found.config is not config:
            found = self.tenants[config.tenant] = TenantIndex(config)
        return found

    def settled(
        self, config: TenantConfig, read: Callable[[str], AgentState | None]
    ) -> TenantIndex:
        """The tenant's pools under ``config``, as the agent rows (``read`` by table
        key) say: what a decision starts from. (Settling here, not when a transition
        ends, lets an applied one move the pools once: its writes are there already.)"""
        found = self.for_config(config)
        if found.pending:
            found.settle(read, config.tenant + KEY_SEP)
        return found

    def applied(self, agents: dict[str, AgentState]) -> None:
        """Agent rows were written (by table key, ``tenant SEP id``): the pools follow."""
        for key, agent in agents.items():
            found = self.tenants.get(key.partition(KEY_SEP)[0])
            if found is not None:
                found.update(agent)

    def clear(self) -> None:
        self.tenants.clear()
