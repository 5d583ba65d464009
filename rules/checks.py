"""Checks of rules, conditions, actions and hours, shared by both ways a config arrives.

A file (``schemas.config_file``) reports each problem at its line; a record read
from the config topic (``streams.config_store``) is refused whole. Both ask the
functions here, so the two can never disagree on what a valid rule is. Problems
are (sub-path, message) pairs; the caller puts its own path in front.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rules.hours import hours_problems
from rules.operators import value_problem
from rules.vocabulary import ACTIONS, FIELDS, OPERATORS, PLACING_ACTIONS, TRIGGERS, kind_of
from schemas.events import PRIORITY_MAX, PRIORITY_MIN
from schemas.tenant_config import ActionConfig, ConditionConfig, RuleConfig, TenantConfig

Problem = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Names:
    """What the rules of one config may refer to."""

    departments: frozenset[str]
    #: Departments with hours and named calendars: what time conditions may name.
    calendars: frozenset[str]
    agents: frozenset[str]

    @classmethod
    def of(cls, config: TenantConfig) -> Names:
        with_hours = {d.id for d in config.departments.values() if d.hours is not None}
        return cls(
            frozenset(config.departments),
            frozenset(with_hours | set(config.calendars)),
            frozenset(config.agents),
        )


def condition_problems(field: str, op: str, value: Any, given: bool, names: Names) -> list[Problem]:
    kind = kind_of(field)
    if kind is None:
        known = ", ".join([*FIELDS, "customer.<attr>", "attributes.<key>"])
        return [("field", f"unknown field {field!r} (known: {known})")]
    kinds = OPERATORS.get(op)
    if kinds is None:
        return [("op", f"unknown operator {op!r}")]
    if kind not in kinds:
        fitting = ", ".join(o for o, ks in OPERATORS.items() if kind in ks)
        return [("op", f"{op!r} does not apply to {field} (use one of: {fitting})")]
    problem = value_problem(op, kind, value, given)
    if problem is not None:
        return [("value", problem)]
    if kind == "time" and value not in names.calendars:
        return [
            (
                "value",
                f"{value!r} is neither a department with hours nor a calendar"
                f" (known: {sorted(names.calendars)})",
            )
        ]
    return []


def action_problems(action: str, value: Any, given: bool, names: Names) -> list[Problem]:
    """Problems of one action; the sub-path is the action's own name."""
    needs = ACTIONS.get(action)
    if needs is None:
        return [("", f"unknown action {action!r} (known: {', '.join(ACTIONS)})")]
    if needs == "none":
        return [] if value in (None, True) else [(action, "takes no value")]
    if not given or value is None:
        return [(action, f"needs a {needs}")]
    if needs == "priority":
        ok = type(value) is int and PRIORITY_MIN <= value <= PRIORITY_MAX
        why = f"expected {PRIORITY_MIN} (most urgent) .. {PRIORITY_MAX}, got {value!r}"
        return [] if ok else [(action, why)]
    if not isinstance(value, str) or not value.strip():
        return [(action, f"expected a non-empty {needs}, got {value!r}")]
    if needs == "department" and value not in names.departments:
        return [(action, f"unknown department {value!r}")]
    if needs == "agent" and value not in names.agents:
        return [(action, f"unknown agent {value!r}")]
    if needs == "skill" and parse_skill(value) is None:
        return [(action, f"expected skill or skill:level (level 1 .. 10), got {value!r}")]
    return []


def parse_skill(value: str) -> tuple[str, int] | None:
    """``billing`` -> ("billing", 1); ``billing:3`` -> ("billing", 3); ``language:de``
    -> ("language:de", 1): a trailing number is the level, anything else is the name."""
    name, sep, level = value.strip().rpartition(":")
    if sep and level.isdigit():
        n = int(level)
        return (name, n) if name and 1 <= n <= 10 else None
    return (value.strip(), 1) if value.strip() else None


def rule_shape_problems(rule: RuleConfig) -> list[Problem]:
    """Problems of the rule as a whole (its parts are checked one by one)."""
    found: list[Problem] = []
    placing = [a.action for a in rule.actions if a.action in PLACING_ACTIONS]
    if rule.department:
        placing.insert(0, "transfer")
    if len(placing) > 1:
        found.append(
            ("actions", f"a rule places a ticket once: {', '.join(placing)} (keep one of them)")
        )
    if not rule.actions and not rule.department:
        found.append(("actions", "a rule needs at least one action (or department:)"))
    for i, trigger in enumerate(rule.triggers):
        if trigger not in TRIGGERS:
            found.append(
                (f"trigger[{i}]", f"unknown trigger {trigger!r} (known: {', '.join(TRIGGERS)})")
            )
    if not rule.triggers:
        found.append(("trigger", "a rule needs at least one trigger"))
    return found


def _conditions(rule: RuleConfig) -> Iterator[tuple[str, ConditionConfig]]:
    for g, group in enumerate(rule.groups):
        for c, cond in enumerate(group):
            yield f"groups[{g}][{c}]", cond


def _actions(actions: Sequence[ActionConfig]) -> Iterator[tuple[str, ActionConfig]]:
    for a, action in enumerate(actions):
        yield f"actions[{a}]", action


def config_problems(config: TenantConfig) -> list[str]:
    """Every rule and hours problem of a config that did not come from a file."""
    names = Names.of(config)
    found: list[str] = []
    for dept in config.departments.values():
        if dept.hours is not None:
            found += [
                f"departments.{dept.id}.hours.{p}: {m}" for p, m in hours_problems(dept.hours)
            ]
    for name, hours in config.calendars.items():
        found += [f"calendars.{name}.{p}: {m}" for p, m in hours_problems(hours)]
    for i, rule in enumerate(config.rules):
        at = f"rules[{i}]"
        found += [f"{at}.{p}: {m}" for p, m in rule_shape_problems(rule)]
        for path, cond in _conditions(rule):
            given = cond.value is not None
            problems = condition_problems(cond.field, cond.op, cond.value, given, names)
            found += [f"{at}.{path}.{p}: {m}" for p, m in problems]
        for path, action in _actions(rule.actions):
            problems = action_problems(action.action, action.value, True, names)
            found += [f"{at}.{path}{'.' + p if p else ''}: {m}" for p, m in problems]
    return found
