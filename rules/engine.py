"""Rule evaluation: the candidate rules in order, their actions, the outcome.

Pure and synchronous: the same function runs in the worker, in ``deskroute
explain`` and in the tests, and its decision names the rules that matched and
the conditions that decided, so every ``TicketRouted`` is explainable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules.checks import parse_skill
from rules.compiler import CompiledRule, Condition, compiled_for
from rules.facts import Facts, facts_for
from schemas.events import PRIORITY_DEFAULT, InboundReceived
from schemas.tenant_config import TenantConfig

DEFAULT_RULE = "(default department)"
#: Outcomes, also the label values of the unroutable metric (a closed set).
OUTCOMES = ("routed", "default", "unchanged", "dropped", "no_match")
#: Limits of the explanation carried on every TicketRouted.
EXPLAIN_MATCHED = 20
EXPLAIN_CONDITIONS = 10


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    text: str
    held: bool
    actual: str


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One evaluated rule, for ``deskroute explain``."""

    name: str
    stop: bool
    groups: tuple[tuple[ConditionTrace, ...], ...]
    #: Index of the first group that held, or -1.
    matched_group: int
    #: What each action did, as a person reads it.
    effects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteDecision:
    department: str | None
    rule: str
    #: Why there is no department, when ``department`` is None.
    reason: str = ""
    outcome: str = "routed"
    priority: int = PRIORITY_DEFAULT
    tags: tuple[str, ...] = ()
    preferred_agent: str = ""
    leave_unassigned: bool = False
    skills: dict[str, int] = field(default_factory=dict)
    optional_skills: dict[str, int] = field(default_factory=dict)
    triggers: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    evaluated: int = 0
    #: The conditions of the deciding rule's group that held.
    conditions: tuple[str, ...] = ()
    #: Rules of these triggers that the index did not need to evaluate (counted
    #: only when tracing: counting costs a scan of every rule).
    skipped: int = 0
    trace: tuple[RuleTrace, ...] = field(default=(), repr=False)

    def explanation(self) -> dict[str, Any]:
        """The compact form carried on ``TicketRouted`` (bounded: it is on every record)."""
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "triggers": list(self.triggers),
            "evaluated": self.evaluated,
            "matched": list(self.matched[:EXPLAIN_MATCHED]),
        }
        if len(self.matched) > EXPLAIN_MATCHED:
            out["matched_total"] = len(self.matched)
        if self.conditions:
            out["conditions"] = list(self.conditions[:EXPLAIN_CONDITIONS])
        return out


def route(config: TenantConfig, event: InboundReceived) -> RouteDecision:
    """The department of an inbound event (its triggers and clock come from the event)."""
    return decide(config, facts_for(event))


def decide(
    config: TenantConfig, facts: Facts, *, use_index: bool = True, trace: bool = False
) -> RouteDecision:
    """Evaluate the rules of ``facts.triggers`` in order; ``facts`` is changed by actions.

    A ticket that starts without a department (an inbound one) and that no rule
    places goes to the default department, or gets no department and a reason; one
    that starts in a department (``queue_wait``, ``agent_offline``) stays there.
    """
    rules = compiled_for(config)
    positions = rules.candidates(facts) if use_index else rules.for_triggers(facts.triggers)
    started_in = facts.department
    decided_by = ""
    conditions: tuple[str, ...] = ()
    matched: list[str] = []
    traces: list[RuleTrace] = []
    preferred = ""
    leave = False
    skills: dict[str, int] = {}
    optional: dict[str, int] = {}
    dropped = ""
    evaluated = 0
    for position in positions:
        rule = rules.rules[position]
        evaluated += 1
        group = _traced_group(rule, facts, traces) if trace else _matching_group(rule, facts)
        if group is None:
            continue
        matched.append(rule.name)
        effects: list[str] = []
        for action in rule.actions:
            kind, value = action.action, action.value
            if kind == "transfer" or kind == "escalate":
                target = value if kind == "transfer" else rules.overflow.get(facts.department, "")
                if not target:
                    effects.append(
                        f"escalate: {facts.department or 'no department'} has no overflow"
                    )
                    continue
                effects.append(f"{kind}: {facts.department or '-'} -> {target}")
                facts.department = target
                decided_by, conditions = rule.name, tuple(c.text for c in group)
            elif kind == "drop":
                dropped = f"dropped by rule {rule.name}: {value}"
                decided_by, conditions = rule.name, tuple(c.text for c in group)
                effects.append(f"drop: {value}")
                break
            elif kind == "set_priority":
                facts.priority = value
                effects.append(f"priority {value}")
            elif kind == "add_tag":
                if value not in facts.tags:
                    facts.tags.append(value)
                effects.append(f"tag +{value}")
            elif kind == "remove_tag":
                if value in facts.tags:
                    facts.tags.remove(value)
                effects.append(f"tag -{value}")
            elif kind == "assign_agent":
                preferred = value
                effects.append(f"preferred agent {value}")
            elif kind == "leave_unassigned":
                leave = True
                effects.append("leave unassigned")
            elif kind in ("require_skill", "prefer_skill"):
                parsed = parse_skill(value)
                if parsed is not None:
                    (skills if kind == "require_skill" else optional)[parsed[0]] = parsed[1]
                    effects.append(f"{kind.split('_')[0]}s skill {parsed[0]} >= {parsed[1]}")
        if trace:
            traces[-1] = _with_effects(traces[-1], effects)
        if dropped or rule.stop:
            break
    if dropped:
        department: str | None = None
        outcome, rule_name, reason = "dropped", decided_by, dropped
    elif decided_by:
        department, outcome, rule_name, reason = facts.department, "routed", decided_by, ""
    elif started_in:
        department, outcome, rule_name, reason = started_in, "unchanged", "", ""
    elif rules.default_department:
        department, outcome, rule_name = rules.default_department, "default", DEFAULT_RULE
        reason = ""
    else:
        department, outcome, rule_name = None, "no_match", ""
        reason = (
            f"rules {', '.join(matched)} matched but placed nothing,"
            if matched
            else "no rule matched"
        ) + " and the tenant has no default department"
    return RouteDecision(
        department=department,
        rule=rule_name,
        reason=reason,
        outcome=outcome,
        priority=facts.priority,
        tags=tuple(facts.tags),
        preferred_agent=preferred,
        leave_unassigned=leave,
        skills=skills,
        optional_skills=optional,
        triggers=tuple(sorted(facts.triggers)),
        matched=tuple(matched),
        evaluated=evaluated,
        conditions=conditions,
        skipped=len(rules.for_triggers(facts.triggers)) - len(positions) if trace else 0,
        trace=tuple(traces),
    )


def _matching_group(rule: CompiledRule, facts: Facts) -> tuple[Condition, ...] | None:
    for group in rule.groups:
        for cond in group:
            if not cond.test(cond.read(facts)):
                break
        else:
            return group
    return None


def _traced_group(
    rule: CompiledRule, facts: Facts, traces: list[RuleTrace]
) -> tuple[Condition, ...] | None:
    """Like :func:`_matching_group`, but every condition is tested and recorded."""
    shown: list[tuple[ConditionTrace, ...]] = []
    first = -1
    for g, group in enumerate(rule.groups):
        row = []
        for cond in group:
            actual = cond.read(facts)
            row.append(ConditionTrace(cond.text, cond.test(actual), cond.display(actual)))
        shown.append(tuple(row))
        if first < 0 and all(c.held for c in row):
            first = g
    traces.append(RuleTrace(rule.name, rule.stop, tuple(shown), first, ()))
    return rule.groups[first] if first >= 0 else None


def _with_effects(t: RuleTrace, effects: list[str]) -> RuleTrace:
    return RuleTrace(t.name, t.stop, t.groups, t.matched_group, tuple(effects))
