"""A tenant's routing configuration: departments, agents and rules, versioned.

It travels on the compacted ``deskroute.config`` topic keyed by tenant, so the
newest version of each tenant is what every worker converges on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from strategies import STRATEGIES as _STRATEGY_REGISTRY

#: Strategy names a department may use: whatever the strategies package registers.
STRATEGIES = tuple(sorted(_STRATEGY_REGISTRY))
DEFAULT_OFFER_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class HoursConfig:
    """Opening hours as a person writes them; :mod:`rules.hours` turns them into a clock.

    Kept as text (``"09:00-17:00"``, ``"2026-12-25"``) so the config round-trips
    through the config topic unchanged and errors can quote what was written.
    """

    timezone: str
    #: ``mon`` .. ``sun`` -> intervals ``"HH:MM-HH:MM"``; a day not listed is closed.
    weekly: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Local dates (``YYYY-MM-DD``) closed all day.
    holidays: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DepartmentConfig:
    id: str
    name: str = ""
    #: Strategy used for every channel unless ``strategies`` names one for it.
    strategy: str = "least-load"
    strategies: dict[str, str] = field(default_factory=dict)
    hours: HoursConfig | None = None
    #: Where the rule action ``escalate`` sends this department's tickets, and where
    #: waiting work goes after ``escalate_after_s``.
    overflow: str = ""
    #: channel -> seconds an offer rings before it moves on; channels not listed (or
    #: 0) are assigned directly. Chats and calls ring by default, like a phone.
    offer_timeout_s: dict[str, float] = field(
        default_factory=lambda: {"chat": DEFAULT_OFFER_TIMEOUT_S, "call": DEFAULT_OFFER_TIMEOUT_S}
    )
    #: Channels in pull mode ("to solve"): work waits until an agent takes it.
    pull: tuple[str, ...] = ()
    #: channel -> seconds waiting work may wait here before it moves to ``overflow``.
    escalate_after_s: dict[str, float] = field(default_factory=dict)
    #: Channels whose open work returns to the queue when its agent goes offline
    #: (a chat nobody answers any more); other work stays with the agent.
    requeue_on_offline: tuple[str, ...] = ()
    #: Seconds after which a ticket's optional skills stop being required.
    relax_after_s: float = 60.0

    def strategy_for(self, channel: str) -> str:
        return self.strategies.get(channel, self.strategy)

    def offer_timeout(self, channel: str) -> float:
        """Seconds an offer rings on ``channel``; 0 = assign directly.

        Ring-all always rings (offering to everybody at once is what it is).
        """
        timeout = self.offer_timeout_s.get(channel, 0.0)
        if timeout <= 0 and self.strategy_for(channel) == "ring-all":
            return DEFAULT_OFFER_TIMEOUT_S
        return timeout


@dataclass(frozen=True, slots=True)
class AgentConfig:
    id: str
    name: str = ""
    departments: tuple[str, ...] = ()
    #: Work items per channel the agent can hold at once; 0 or absent = not enabled.
    capacity: dict[str, int] = field(default_factory=dict)
    #: 1 highest .. 100 lowest (used by priority-aware strategies).
    priority: int = 50
    #: skill -> level (1 .. 10); a language is the skill ``language:<code>``.
    skills: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConditionConfig:
    """``field op value``; the vocabulary and its checks live in :mod:`rules.vocabulary`."""

    field: str
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class ActionConfig:
    action: str
    #: Department, priority, tag, agent or drop reason; None for actions without one.
    value: Any = None


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One rule: when it fires, which conditions, what it does, whether later rules run.

    ``department``, ``channel``, ``source`` and ``source_prefix`` are the original
    shorthand (``when:`` + ``department:``): the ``when`` conditions are added to
    every group and ``department`` is a transfer before the listed actions.
    """

    name: str
    department: str = ""
    channel: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    source_prefix: tuple[str, ...] = ()
    #: ``trigger:`` in the file (``on:`` would be read as ``true`` by YAML 1.1 tools).
    triggers: tuple[str, ...] = ("ticket_created",)
    #: Any group may match; every condition of a group must hold. Empty = one empty group.
    groups: tuple[tuple[ConditionConfig, ...], ...] = ()
    actions: tuple[ActionConfig, ...] = ()
    #: True: the first matching rule ends the evaluation (a drop always does).
    stop: bool = True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class TenantConfig:
    TYPE: ClassVar[str] = "TenantConfig"
    VERSION: ClassVar[int] = 1

    tenant: str
    version: int
    departments: dict[str, DepartmentConfig]
    agents: dict[str, AgentConfig]
    rules: tuple[RuleConfig, ...] = ()
    default_department: str = ""
    #: Named opening hours that time conditions may use besides departments' own.
    calendars: dict[str, HoursConfig] = field(default_factory=dict)

    @cached_property
    def department_agents(self) -> dict[str, tuple[str, ...]]:
        """Agents of each department in config order (the round-robin order)."""
        out: dict[str, list[str]] = {d: [] for d in self.departments}
        for agent in self.agents.values():
            for dept in dict.fromkeys(agent.departments):  # a repeated membership counts once
                if dept in out:
                    out[dept].append(agent.id)
        return {d: tuple(ids) for d, ids in out.items()}

    @cached_property
    def wait_thresholds(self) -> tuple[float, ...]:
        """Waits (seconds) at which ``queue_wait`` rules may start to hold: the values
        of their ``wait_s`` gt/gte conditions, or 0 for a rule without one. The
        assignment stage evaluates these rules only when a ticket crosses one."""
        found: set[float] = set()
        for rule in self.rules:
            if "queue_wait" not in rule.triggers:
                continue
            waits = [
                float(c.value)
                for group in rule.groups
                for c in group
                if c.field == "wait_s" and c.op in ("gt", "gte") and _is_number(c.value)
            ]
            found.add(min(waits) if waits else 0.0)
        return tuple(sorted(found))

    def problems(self) -> list[str]:
        """What makes this config unusable, for configs that did not come from a file
        (the config topic carries whatever a producer wrote)."""
        found: list[str] = []
        if not self.departments:
            found.append("no departments")
        for dept in self.departments.values():
            for channel, strategy in {"*": dept.strategy, **dept.strategies}.items():
                if strategy not in STRATEGIES:
                    found.append(f"department {dept.id}: unknown strategy {strategy!r} ({channel})")
        for agent in self.agents.values():
            found += [
                f"agent {agent.id}: unknown department {d!r}"
                for d in agent.departments
                if d not in self.departments
            ]
        found += [
            f"rule {r.name}: unknown department {r.department!r}"
            for r in self.rules
            if r.department and r.department not in self.departments
        ]
        found += [
            f"department {d.id}: unknown overflow department {d.overflow!r}"
            for d in self.departments.values()
            if d.overflow and d.overflow not in self.departments
        ]
        if self.default_department and self.default_department not in self.departments:
            found.append(f"default department {self.default_department!r} is unknown")
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "version": self.version,
            "departments": len(self.departments),
            "agents": len(self.agents),
            "rules": len(self.rules),
        }
