"""Rules compiled once per config version: tests bound to fields, and the index.

The index maps (field, value) of exact-match conditions (``equals``/``in`` on
channel, source, mailbox, chat button or called number) to the rules that need
it, per trigger. A rule is a candidate for an event when one of its condition
groups has no such condition (it is "unindexed"), or when the event's value of
that group's indexed field is one the group accepts; every other rule has, in
each group, an exact-match condition that fails, so skipping it changes nothing.
Candidates are evaluated in rule order, so the result is the linear scan's
(``tests/unit/test_rules_index.py`` checks this over random rule sets).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.facts import Facts, Getter, getter
from rules.hours import Calendar
from rules.operators import make_test
from rules.vocabulary import INDEXED_FIELDS, INDEXED_OPS, kind_of
from schemas.tenant_config import ConditionConfig, RuleConfig, TenantConfig

_SHOW_CHARS = 80


def show(value: Any) -> str:
    """A value as the person who wrote the YAML reads it, cut to a line."""
    text = _show(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _show(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return (
            "[" + ", ".join(_show(v) for v in value[:20]) + (", ...]" if len(value) > 20 else "]")
        )
    return repr(value)


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any
    read: Getter
    test: Callable[[Any], bool]
    text: str
    #: What an explanation shows as the field's value (time: the local clock).
    display: Callable[[Any], str] = show

    def holds(self, facts: Facts) -> bool:
        return self.test(self.read(facts))


@dataclass(frozen=True, slots=True)
class Action:
    action: str
    value: Any

    @property
    def text(self) -> str:
        return self.action if self.value is None else f"{self.action} {self.value}"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    position: int
    name: str
    triggers: frozenset[str]
    groups: tuple[tuple[Condition, ...], ...]
    actions: tuple[Action, ...]
    stop: bool


@dataclass(frozen=True, slots=True)
class TriggerIndex:
    #: Rules that are candidates for every event of the trigger, in rule order.
    always: tuple[int, ...]
    by_key: dict[tuple[str, str], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Everything evaluation needs, and nothing that refers back to the config
    (the cache below must not keep a replaced config alive)."""

    version: int
    rules: tuple[CompiledRule, ...]
    by_trigger: dict[str, TriggerIndex]
    #: The indexed fields some rule uses, with their readers.
    index_readers: tuple[tuple[str, Getter], ...]
    overflow: dict[str, str]
    default_department: str

    def candidates(self, facts: Facts) -> list[int]:
        """Positions of the rules that may match ``facts``, in rule order."""
        keys = [(name, read(facts)) for name, read in self.index_readers]
        found: set[int] = set()
        for trigger in facts.triggers:
            index = self.by_trigger.get(trigger)
            if index is None:
                continue
            found.update(index.always)
            for key in keys:
                hit = index.by_key.get(key)
                if hit:
                    found.update(hit)
        return sorted(found)

    def for_triggers(self, triggers: frozenset[str]) -> list[int]:
        """Every rule of these triggers, in order: the linear scan the index must equal."""
        return [r.position for r in self.rules if r.triggers & triggers]


def compile_condition(cond: ConditionConfig, calendars: dict[str, Calendar]) -> Condition:
    kind = kind_of(cond.field)
    if kind is None:
        raise ValueError(f"unknown field {cond.field!r}")
    if kind == "time":
        calendar = calendars[cond.value]
        want = cond.op == "within_hours"
        return Condition(
            cond.field,
            cond.op,
            cond.value,
            getter("time"),
            lambda now: calendar.is_open(now) is want,
            f"time {cond.op} {cond.value}",
            calendar.local_time,
        )
    no_value = cond.op in ("is_set", "not_set")
    return Condition(
        cond.field,
        cond.op,
        cond.value,
        getter(cond.field),
        make_test(cond.op, kind, cond.value),
        f"{cond.field} {cond.op}" if no_value else f"{cond.field} {cond.op} {show(cond.value)}",
    )


def _shorthand(rule: RuleConfig) -> tuple[ConditionConfig, ...]:
    """The ``when:`` conditions as ordinary ones."""
    out: list[ConditionConfig] = []
    if rule.channel:
        out.append(ConditionConfig("channel", "in", list(rule.channel)))
    if rule.source:
        out.append(ConditionConfig("source", "in", list(rule.source)))
    if rule.source_prefix:
        out.append(ConditionConfig("source", "starts_with", list(rule.source_prefix)))
    return tuple(out)


def _index_keys(group: tuple[Condition, ...]) -> set[tuple[str, str]] | None:
    """The (field, value) keys one of which an event needs for ``group`` to hold,
    from its most selective exact-match condition; None if it has none."""
    best: set[tuple[str, str]] | None = None
    best_rank = len(INDEXED_FIELDS)
    for cond in group:
        if cond.op not in INDEXED_OPS or cond.field not in INDEXED_FIELDS:
            continue
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        if not all(type(v) is str for v in values):
            continue
        rank = INDEXED_FIELDS.index(cond.field)
        if rank < best_rank or (rank == best_rank and best is not None and len(values) < len(best)):
            best, best_rank = {(cond.field, v) for v in values}, rank
    return best


def compile_rules(config: TenantConfig) -> CompiledRules:
    """Compile a checked config (see :mod:`rules.checks`)."""
    calendars = {name: Calendar.of(h) for name, h in config.calendars.items()}
    for dept in config.departments.values():
        if dept.hours is not None:
            calendars[dept.id] = Calendar.of(dept.hours)  # a department's own hours win
    compiled: list[CompiledRule] = []
    always: dict[str, list[int]] = {}
    by_key: dict[str, dict[tuple[str, str], list[int]]] = {}
    used: set[str] = set()
    for position, rule in enumerate(config.rules):
        common = _shorthand(rule)
        groups = tuple(
            tuple(compile_condition(c, calendars) for c in (*common, *group))
            for group in (rule.groups or ((),))
        )
        actions = tuple(Action(a.action, a.value) for a in rule.actions)
        if rule.department:
            actions = (Action("transfer", rule.department), *actions)
        compiled.append(
            CompiledRule(position, rule.name, frozenset(rule.triggers), groups, actions, rule.stop)
        )
        keys: set[tuple[str, str]] = set()
        indexed = True
        for group in groups:
            group_keys = _index_keys(group)
            if group_keys is None:
                indexed = False
                break
            keys |= group_keys
        for trigger in rule.triggers:
            if not indexed:
                always.setdefault(trigger, []).append(position)
                continue
            table = by_key.setdefault(trigger, {})
            for key in keys:
                table.setdefault(key, []).append(position)
                used.add(key[0])
    triggers = set(always) | set(by_key)
    return CompiledRules(
        config.version,
        tuple(compiled),
        {
            t: TriggerIndex(
                tuple(always.get(t, ())),
                {k: tuple(v) for k, v in by_key.get(t, {}).items()},
            )
            for t in triggers
        },
        tuple((f, getter(f)) for f in INDEXED_FIELDS if f in used),
        {d.id: d.overflow for d in config.departments.values() if d.overflow},
        config.default_department,
    )


_CACHE: dict[int, tuple[weakref.ref[TenantConfig], CompiledRules]] = {}


def compiled_for(config: TenantConfig) -> CompiledRules:
    """The compiled rules of this config object, compiled on first use only.

    Keyed by identity: the worker holds one config object per tenant version, so
    each version is compiled once; the entry goes when the config is dropped.
    """
    key = id(config)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is config:
        return hit[1]
    rules = compile_rules(config)
    _CACHE[key] = (weakref.ref(config, lambda _ref: _CACHE.pop(key, None)), rules)
    return rules
