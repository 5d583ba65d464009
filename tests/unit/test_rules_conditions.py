"""Every operator on every kind of field, condition groups, triggers, actions and outcomes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import DEFAULT_RULE, decide, facts_for, route
from rules.operators import (
    MAX_MATCH_INPUT_CHARS,
    compile_pattern,
    make_test,
    searcher,
    value_problem,
)
from rules.vocabulary import OPERATORS, kind_of
from schemas.config_file import parse_config_text
from schemas.events import Channel, Customer, InboundReceived
from schemas.tenant_config import TenantConfig

HEAD = """\
tenant: acme
departments:
  - {id: sales}
  - {id: support, overflow: tier2}
  - {id: tier2}
  - {id: billing}
agents:
  - {id: ann, departments: [sales]}
"""


def cfg(rules_yaml: str, default: str = "") -> TenantConfig:
    text = HEAD + (f"default_department: {default}\n" if default else "") + "rules:\n" + rules_yaml
    return parse_config_text(text, "t.yaml")


def event(
    channel: Channel = "email",
    source: str = "email:help@acme.example",
    subject: str = "",
    text: str = "",
    email: str = "ada@Example.ORG",
    priority: int = 3,
    **attributes: Any,
) -> InboundReceived:
    return InboundReceived(
        "e1",
        "acme",
        channel,
        source,
        "conv",
        Customer("c1", "Ada", email),
        1_780_000_000.0,
        subject=subject,
        text=text,
        priority=priority,
        attributes=attributes,
    )


def holds(field: str, op: str, value: Any, ev: InboundReceived) -> bool:
    """Whether the one condition holds for ``ev``, through the whole engine."""
    cond: dict[str, Any] = {"field": field, "op": op}
    if op not in ("is_set", "not_set"):
        cond["value"] = value
    rule = f"  - {{name: r, if: [{json.dumps(cond)}], actions: [{{transfer: sales}}]}}\n"
    return route(cfg(rule), ev).department == "sales"


# --- operators, one by one ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "ev", "expected"),
    [
        ("channel", "equals", "email", event(), True),
        ("channel", "equals", "chat", event(), False),
        ("channel", "not_equals", "chat", event(), True),
        ("source", "in", ["email:x", "email:help@acme.example"], event(), True),
        ("source", "not_in", ["email:x"], event(), True),
        ("source", "not_in", ["email:help@acme.example"], event(), False),
        ("mailbox", "equals", "help@acme.example", event(), True),
        ("mailbox", "equals", "help@acme.example", event("chat", "chat:help@acme.example"), False),
        ("chat_button", "equals", "pricing", event("chat", "chat:pricing"), True),
        ("called_number", "starts_with", "+1555", event("call", "call:+15550100"), True),
        ("called_number", "is_set", None, event(), False),
        ("subject", "contains", "INVOICE", event(subject="Your invoice #4"), True),
        ("subject", "contains", ["refund", "invoice"], event(subject="Invoice"), True),
        ("subject", "contains", "invoice", event(subject="Receipt"), False),
        ("subject", "starts_with", "Re:", event(subject="Re: hello"), True),
        ("subject", "starts_with", "re:", event(subject="Re: hello"), False),  # case matters
        ("subject", "ends_with", ["?", "!"], event(subject="help?"), True),
        ("text", "matches", r"order\s+#?\d{5}", event(text="about order #12345 please"), True),
        ("text", "matches", r"^order", event(text="my order"), False),
        ("text", "matches", r"(?i)URGENT", event(text="this is urgent"), True),
        ("customer.email", "ends_with", "@Example.ORG", event(), True),
        ("customer.domain", "equals", "example.org", event(), True),  # lower-cased
        ("customer.domain", "is_set", None, event(email=""), False),
        ("customer.name", "equals", "Ada", event(), True),
        ("customer.vip", "equals", True, event(customer={"vip": True}), True),
        ("customer.vip", "equals", True, event(vip=True), True),  # top-level attribute
        ("customer.vip", "equals", True, event(customer={"vip": 1}), False),  # 1 is not true
        ("customer.plan", "in", ["gold", "enterprise"], event(plan="gold"), True),
        ("customer.lifetime_value", "gte", 1000, event(lifetime_value=1000.0), True),
        ("customer.lifetime_value", "gt", 1000, event(lifetime_value="2000"), False),  # text
        ("customer.country", "not_set", None, event(), True),
        ("attributes.page_url", "contains", "/pricing", event(page_url="https://x/pricing"), True),
        ("language", "equals", "fr", event(language="fr"), True),
        ("language", "not_equals", "fr", event(), True),
        ("priority", "lt", 3, event(priority=2), True),
        ("priority", "lte", 3, event(priority=3), True),
        ("priority", "gt", 3, event(priority=3), False),
        ("priority", "in", [1, 2], event(priority=1), True),
        ("priority", "equals", 3, event(), True),
        ("automatic", "is_set", None, event(automatic="bounce"), True),
        ("automatic", "is_set", None, event(), False),
        ("automatic", "in", ["bounce", "auto-reply"], event(automatic="auto-reply"), True),
        ("missed", "equals", True, event("call", "call:+1", missed=True), True),
        ("missed", "equals", False, event("call", "call:+1"), True),
        ("missed", "is_set", None, event("call", "call:+1", missed="yes"), False),
        ("tags", "equals", "vip", event(tags=["new", "vip"]), True),
        ("tags", "contains", "VI", event(tags=["vip"]), True),
        ("tags", "not_in", ["spam"], event(tags=["vip"]), True),
        ("tags", "not_in", ["spam"], event(tags=["spam"]), False),
        ("tags", "is_set", None, event(), False),
        ("tags", "not_set", None, event(tags=[]), True),
        ("attributes.labels", "equals", "x", event(labels=["y", "x"]), True),  # a list attribute
        ("attributes.n", "equals", 2, event(n=2.0), True),
        ("attributes.n", "equals", "2", event(n=2), False),
    ],
)
def test_operator(field: str, op: str, value: Any, ev: InboundReceived, expected: bool) -> None:
    assert holds(field, op, value, ev) is expected


def test_every_operator_is_tested() -> None:
    from pathlib import Path

    text = "".join(
        p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_rules*.py")
    )
    assert [op for op in OPERATORS if f"op: {op}" not in text and f'"{op}"' not in text] == []


def test_matches_searches_only_a_bounded_prefix() -> None:
    tail = "x" * MAX_MATCH_INPUT_CHARS + "needle"
    assert not holds("text", "matches", "needle", event(text=tail))
    assert holds("text", "matches", "needle", event(text="needle" + tail))


def test_matches_has_no_catastrophic_backtracking() -> None:
    import time

    started = time.perf_counter()
    assert not holds("text", "matches", r"^(a+)+$", event(text="a" * 5000 + "b"))
    assert time.perf_counter() - started < 1.0


# --- hypothesis: operators against their definitions ------------------------------------

words = st.text(alphabet="abcAB:@.+- ", max_size=12)


@given(actual=words, value=words.filter(bool))
def test_text_operators_agree_with_python(actual: str, value: str) -> None:
    assert make_test("equals", "text", value)(actual) is (actual == value)
    assert make_test("not_equals", "text", value)(actual) is (actual != value)
    assert make_test("contains", "text", value)(actual) is (value.casefold() in actual.casefold())
    assert make_test("starts_with", "text", value)(actual) is actual.startswith(value)
    assert make_test("ends_with", "text", value)(actual) is actual.endswith(value)
    assert make_test("in", "text", [value, "zz"])(actual) is (actual in (value, "zz"))
    assert make_test("not_in", "text", [value])(actual) is (actual != value)
    assert make_test("is_set", "text", None)(actual) is (actual != "")
    assert make_test("not_set", "text", None)(actual) is (actual == "")


@given(actual=st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False), value=st.integers(-5, 5))
def test_number_operators_agree_with_python(actual: float, value: int) -> None:
    assert make_test("gt", "number", value)(actual) is (actual > value)
    assert make_test("lt", "number", value)(actual) is (actual < value)
    assert make_test("gte", "number", value)(actual) is (actual >= value)
    assert make_test("lte", "number", value)(actual) is (actual <= value)
    assert make_test("equals", "number", value)(actual) is (actual == value)


junk = st.none() | st.booleans() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)
junk |= st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)


@given(actual=junk)
def test_no_operator_raises_on_any_value(actual: Any) -> None:
    samples = {"matches": "a", "within_hours": None, "outside_hours": None}
    for op in OPERATORS:
        if op in ("within_hours", "outside_hours"):
            continue
        value = samples.get(op, ["a", 1] if op in ("in", "not_in") else 1)
        if op in ("contains", "starts_with", "ends_with"):
            value = "a"
        assert make_test(op, "any", value)(actual) in (True, False)
    assert make_test("gt", "any", 1)(True) is False  # true is not a number


@given(values=st.lists(st.sampled_from(["a", "b", "c", 1, 2, True]), min_size=1, max_size=4))
def test_in_keeps_true_apart_from_one(values: list[Any]) -> None:
    test = make_test("in", "any", values)
    assert test(True) is any(v is True for v in values)
    assert test(1) is any(v == 1 and v is not True for v in values)


def test_value_problems() -> None:
    assert value_problem("gt", "int", "3", True) == "expected a number, got str '3'"
    assert value_problem("is_set", "text", 1, True) == "is_set takes no value"
    assert value_problem("equals", "text", None, False) == "equals needs a value"
    assert value_problem("in", "text", [], True) == "in needs at least one value"
    assert "invalid regular expression" in str(value_problem("matches", "text", "(a", True))
    assert str(value_problem("matches", "text", "(?<=a)b", True)).startswith(
        "invalid regular expression '(?<=a)b': invalid perl operator"
    )
    assert "limit" in str(value_problem("matches", "text", "a" * 1001, True))
    assert kind_of("customer.anything") == "any"
    assert kind_of("customer") is None


# --- groups ---------------------------------------------------------------------------

GROUPS = """\
  - name: r
    if:
      - {field: channel, op: equals, value: email}
    if_any:
      - [{field: subject, op: contains, value: invoice}, {field: priority, op: lte, value: 2}]
      - [{field: customer.vip, op: equals, value: true}]
    actions: [{transfer: billing}]
"""


@given(
    channel=st.sampled_from(["email", "chat"]),
    invoice=st.booleans(),
    urgent=st.booleans(),
    vip=st.booleans(),
)
def test_group_logic(channel: Channel, invoice: bool, urgent: bool, vip: bool) -> None:
    """``if`` holds in every group; any group may match; all of a group must hold."""
    ev = event(
        channel,
        f"{channel}:x",
        subject="Invoice 3" if invoice else "Hello",
        priority=1 if urgent else 3,
        customer={"vip": vip},
    )
    expected = channel == "email" and ((invoice and urgent) or vip)
    decision = route(cfg(GROUPS), ev)
    assert (decision.department == "billing") is expected
    if expected:
        first = ["subject contains 'invoice'", "priority lte 2"] if invoice and urgent else []
        group = first or ["customer.vip equals true"]
        assert decision.conditions == ("channel equals 'email'", *group)


def test_a_rule_without_conditions_matches_everything() -> None:
    decision = route(cfg("  - {name: all, actions: [{transfer: sales}]}\n"), event("social", "x"))
    assert (decision.department, decision.rule, decision.conditions) == ("sales", "all", ())


# --- order, stop, actions ---------------------------------------------------------------

TAGGING = """\
  - name: tag-vip
    stop: false
    if: [{field: customer.vip, op: equals, value: true}]
    actions: [{add_tag: vip}, {set_priority: 1}, {assign_agent: ann}]
  - name: vip-to-sales
    if: [{field: tags, op: equals, value: vip}]
    actions: [{transfer: sales}, leave_unassigned]
  - name: never-reached
    actions: [{transfer: billing}]
"""


def test_stop_false_lets_later_rules_see_what_it_did() -> None:
    d = route(cfg(TAGGING), event(vip=True))
    assert (d.department, d.rule, d.outcome) == ("sales", "vip-to-sales", "routed")
    assert (d.priority, d.tags, d.preferred_agent, d.leave_unassigned) == (1, ("vip",), "ann", True)
    assert d.matched == ("tag-vip", "vip-to-sales")
    assert d.evaluated == 2
    other = route(cfg(TAGGING), event())
    assert (other.department, other.rule, other.matched) == (
        "billing",
        "never-reached",
        ("never-reached",),
    )
    assert (other.priority, other.tags, other.preferred_agent) == (3, (), "")


def test_a_later_transfer_overrides_an_earlier_one_with_stop_false() -> None:
    rules = (
        "  - {name: a, stop: false, actions: [{transfer: sales}]}\n"
        "  - {name: b, stop: false, actions: [{transfer: billing}, {remove_tag: x}]}\n"
    )
    d = route(cfg(rules), event(tags=["x", "y"]))
    assert (d.department, d.rule, d.tags) == ("billing", "b", ("y",))


def test_a_stopping_rule_without_transfer_leaves_the_default() -> None:
    rules = (
        "  - {name: tag, actions: [{add_tag: seen}]}\n  - {name: t, actions: [{transfer: sales}]}\n"
    )
    d = route(cfg(rules, default="support"), event())
    assert (d.department, d.rule, d.outcome, d.tags) == (
        "support",
        DEFAULT_RULE,
        "default",
        ("seen",),
    )
    d = route(cfg(rules), event())
    assert (d.department, d.outcome) == (None, "no_match")
    assert (
        d.reason == "rules tag matched but placed nothing, and the tenant has no default department"
    )


def test_drop_records_its_reason_and_ends_evaluation() -> None:
    rules = (
        "  - name: spam\n    stop: false\n"
        "    if: [{field: automatic, op: is_set}]\n"
        "    actions: [{add_tag: auto}, {drop: automatic mail}, {add_tag: never}]\n"
        "  - {name: t, actions: [{transfer: sales}]}\n"
    )
    d = route(cfg(rules, default="support"), event(automatic="bounce"))
    assert (d.department, d.rule, d.outcome) == (None, "spam", "dropped")
    assert d.reason == "dropped by rule spam: automatic mail"
    assert d.tags == ("auto",)
    assert route(cfg(rules), event()).department == "sales"


def test_escalate_goes_to_the_overflow_of_the_current_department() -> None:
    rules = (
        "  - name: wait\n    trigger: queue_wait\n"
        "    if: [{field: wait_s, op: gt, value: 300}]\n    actions: [escalate]\n"
    )
    config = cfg(rules)
    waited = facts_for(event(), triggers=["queue_wait"], department="support", wait_s=301)
    d = decide(config, waited)
    assert (d.department, d.rule, d.outcome) == ("tier2", "wait", "routed")
    short = decide(
        config, facts_for(event(), triggers=["queue_wait"], department="support", wait_s=5)
    )
    assert (short.department, short.rule, short.outcome) == ("support", "", "unchanged")
    # No overflow: the ticket stays where it is.
    stuck = decide(
        config, facts_for(event(), triggers=["queue_wait"], department="sales", wait_s=999)
    )
    assert (stuck.department, stuck.outcome) == ("sales", "unchanged")
    # An inbound ticket has no department yet: escalate does nothing, the default applies.
    inbound = route(cfg("  - {name: up, actions: [escalate]}\n", default="support"), event())
    assert (inbound.department, inbound.outcome) == ("support", "default")


# --- triggers ---------------------------------------------------------------------------

TRIGGERED = """\
  - {name: created, stop: false, actions: [{add_tag: created}]}
  - {name: reply, trigger: message_added, stop: false, actions: [{add_tag: reply}]}
  - {name: missed, trigger: [call_missed], stop: false, actions: [{add_tag: missed}]}
  - {name: waiting, trigger: queue_wait, stop: false, actions: [{add_tag: waiting}]}
  - {name: offline, trigger: agent_offline, stop: false, actions: [{add_tag: offline}]}
"""


@pytest.mark.parametrize(
    ("ev", "tags"),
    [
        (event(), ("created",)),
        (event(in_reply_to="<a@b>"), ("created", "reply")),
        (event("chat", "chat:x", chat_event="chat_message"), ("created", "reply")),
        (event("chat", "chat:x", chat_event="chat_started"), ("created",)),
        (event("call", "call:+1", missed=True), ("created", "missed")),
    ],
)
def test_inbound_triggers(ev: InboundReceived, tags: tuple[str, ...]) -> None:
    assert route(cfg(TRIGGERED, default="sales"), ev).tags == tags


def test_queue_and_agent_triggers_run_only_their_rules() -> None:
    config = cfg(TRIGGERED)
    for trigger in ("queue_wait", "agent_offline"):
        d = decide(config, facts_for(event(), triggers=[trigger], department="sales"))
        assert d.tags == (trigger.replace("queue_wait", "waiting").replace("agent_", ""),)
        assert d.evaluated == 1


# --- the time of the decision --------------------------------------------------------


def test_time_conditions_use_the_events_own_time() -> None:
    text = (
        HEAD.replace(
            "  - {id: sales}",
            "  - id: sales\n    hours: {timezone: UTC, weekly: {mon: ['09:00-17:00']}}",
        )
        + "rules:\n  - name: open\n    if: [{field: time, op: within_hours, value: sales}]\n"
        "    actions: [{transfer: sales}]\n"
    )
    config = parse_config_text(text, "t.yaml")
    monday_10 = 1_780_308_000.0  # Mon 2026-06-01 10:00 UTC
    ev = event()
    assert route(config, dataclasses.replace(ev, received_at=monday_10)).department == "sales"
    evening = dataclasses.replace(ev, received_at=monday_10 + 8 * 3600)
    assert route(config, evening).department is None
    # explain and other triggers may set the clock explicitly
    assert decide(config, facts_for(evening, now=monday_10)).department == "sales"


@given(
    pattern=st.sampled_from([r"a+b", r"(?i)\burgent\b", r"^é", r"\d{3}$", r"x|y", r"[^a]"]),
    text=st.text(alphabet="abxyAB URGENTé123\u2603\ud800", max_size=20),
)
def test_the_fast_search_agrees_with_re2s_own(pattern: str, text: str) -> None:
    expected = compile_pattern(pattern).search(text.encode("utf-8", "replace").decode()) is not None
    assert searcher(pattern)(text) is expected
