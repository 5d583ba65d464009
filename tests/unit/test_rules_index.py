"""The exact-match index decides exactly as a linear scan of every rule, and stays small."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules import compiled_for, decide, facts_for
from rules.compiler import compile_rules
from rules.vocabulary import TRIGGERS
from schemas.events import Customer, InboundReceived
from schemas.tenant_config import (
    ActionConfig,
    ConditionConfig,
    DepartmentConfig,
    RuleConfig,
    TenantConfig,
)

DEPARTMENTS = ("a", "b", "c")
CHANNELS = ("email", "chat", "call", "social")
SOURCES = (
    "email:help@x",
    "email:billing@x",
    "chat:pricing",
    "chat:help",
    "call:+1",
    "call:+2",
    "facebook:page",
    "",
)
TEXTS = ("help", "billing", "pricing", "+1", "x", "email:help@x", "chat:pricing")

FIELD_VALUES: dict[str, tuple[Any, ...]] = {
    "channel": CHANNELS,
    "source": SOURCES,
    "mailbox": ("help@x", "billing@x", ""),
    "chat_button": ("pricing", "help", ""),
    "called_number": ("+1", "+2", ""),
    "subject": TEXTS,
    "priority": (1, 2, 3, 4, 5),
    "tags": ("vip", "new"),
    "department": DEPARTMENTS,
}
OPS = ("equals", "in", "not_equals", "not_in", "starts_with", "contains", "is_set", "not_set")


@st.composite
def conditions(draw: st.DrawFn) -> ConditionConfig:
    field = draw(st.sampled_from(sorted(FIELD_VALUES)))
    pool = FIELD_VALUES[field]
    op = draw(st.sampled_from(OPS if isinstance(pool[0], str) else ("equals", "in", "not_in")))
    if op in ("is_set", "not_set"):
        return ConditionConfig(field, op)
    if op in ("in", "not_in"):
        return ConditionConfig(
            field, op, draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        )
    if op in ("starts_with", "contains"):
        return ConditionConfig(field, op, draw(st.sampled_from([t for t in TEXTS if t])))
    return ConditionConfig(field, op, draw(st.sampled_from(pool)))


actions = st.sampled_from(
    [ActionConfig("transfer", d) for d in DEPARTMENTS]
    + [
        ActionConfig("add_tag", "vip"),
        ActionConfig("remove_tag", "new"),
        ActionConfig("set_priority", 1),
    ]
    + [ActionConfig("escalate"), ActionConfig("drop", "spam")]
)


@st.composite
def rule_sets(draw: st.DrawFn) -> TenantConfig:
    rules = []
    for i in range(draw(st.integers(0, 12))):
        groups = draw(st.lists(st.lists(conditions(), max_size=3).map(tuple), max_size=3))
        rules.append(
            RuleConfig(
                f"r{i}",
                draw(st.sampled_from(("", *DEPARTMENTS))),
                tuple(draw(st.lists(st.sampled_from(CHANNELS), max_size=2))),
                tuple(draw(st.lists(st.sampled_from(SOURCES), max_size=2))),
                tuple(draw(st.lists(st.sampled_from(["email:", "chat:p", "call:"]), max_size=1))),
                tuple(
                    draw(st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=2, unique=True))
                ),
                tuple(groups),
                tuple(draw(st.lists(actions, min_size=1, max_size=2))),
                draw(st.booleans()),
            )
        )
    departments = {d: DepartmentConfig(d, overflow="c" if d == "a" else "") for d in DEPARTMENTS}
    default = draw(st.sampled_from(("", *DEPARTMENTS)))
    return TenantConfig("t", 1, departments, {}, tuple(rules), default)


@st.composite
def events(draw: st.DrawFn) -> InboundReceived:
    return InboundReceived(
        "e",
        "t",
        draw(st.sampled_from(CHANNELS)),  # type: ignore[arg-type]
        draw(st.sampled_from(SOURCES)),
        "c",
        Customer("c"),
        0.0,
        subject=draw(st.sampled_from(TEXTS)),
        priority=draw(st.integers(1, 5)),
        attributes={"tags": draw(st.lists(st.sampled_from(["vip", "new"]), max_size=2))},
    )


@settings(max_examples=400)
@given(
    config=rule_sets(),
    event=events(),
    triggers=st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=3),
    department=st.sampled_from(("", *DEPARTMENTS)),
)
def test_the_index_decides_as_a_linear_scan(
    config: TenantConfig, event: InboundReceived, triggers: list[str], department: str
) -> None:
    def facts() -> Any:
        return facts_for(event, triggers=triggers, department=department, wait_s=1.0)

    indexed = decide(config, facts())
    linear = decide(config, facts(), use_index=False)
    # The same decision; only the number of rules it took may differ.
    assert dataclasses.replace(indexed, evaluated=0) == dataclasses.replace(linear, evaluated=0)
    assert indexed.evaluated <= linear.evaluated
    # Every rule that could match the untouched ticket is a candidate.
    compiled = compile_rules(config)
    candidates = set(compiled.candidates(facts()))
    assert candidates <= set(compiled.for_triggers(frozenset(triggers)))
    for rule in compiled.rules:
        if rule.triggers & set(triggers) and any(
            all(c.holds(facts()) for c in g) for g in rule.groups
        ):
            assert rule.position in candidates, rule.name


def _mailbox_rules(n: int, unindexed: int = 3) -> TenantConfig:
    """``n`` rules by mailbox, ``unindexed`` of them (spread out) on the subject instead."""
    spread = {k * n // unindexed for k in range(unindexed)}
    rules = [
        RuleConfig(
            f"u{i}" if i in spread else f"m{i}",
            groups=(
                (ConditionConfig("subject", "contains", "zzz"),)
                if i in spread
                else (ConditionConfig("mailbox", "equals", f"box{i}@x"),),
            ),
            actions=(ActionConfig("transfer", "b" if i in spread else "a"),),
        )
        for i in range(n)
    ]
    departments = {"a": DepartmentConfig("a"), "b": DepartmentConfig("b")}
    return TenantConfig("t", 1, departments, {}, tuple(rules))


def test_only_candidates_are_evaluated() -> None:
    config = _mailbox_rules(2000)
    event = InboundReceived("e", "t", "email", "email:box1999@x", "c", Customer("c"), 0.0)
    d = decide(config, facts_for(event), trace=True)
    assert d.department == "a" and d.rule == "m1999"
    assert d.evaluated == len(d.trace) <= 4  # three unindexed rules and the one for box1999
    assert d.skipped == 2000 - d.evaluated


def test_rules_compile_once_per_config_object() -> None:
    config = _mailbox_rules(10)
    assert compiled_for(config) is compiled_for(config)
    copy = TenantConfig(config.tenant, 2, config.departments, {}, config.rules)
    assert compiled_for(copy) is not compiled_for(config)
    assert compiled_for(copy).version == 2
