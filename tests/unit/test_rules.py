"""Department transfer: first matching rule wins, else the default department, else nothing."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from agents_state import MemoryState, on_ticket_routed
from rules import RouteDecision, route
from rules.engine import DEFAULT_RULE
from schemas.codec import encode
from schemas.config_file import load_config_file
from schemas.events import Channel, Customer, InboundReceived, TicketRouted, TicketUnroutable
from schemas.tenant_config import DepartmentConfig, RuleConfig, TenantConfig
from streams import topics
from streams.rule_stage import Rejected, route_record

from .builders import DEMO_CONFIG


def inbound(
    channel: Channel = "email",
    source: str = "email:help@acme.example",
    tenant: str = "acme",
    event_id: str = "in-1",
    priority: int = 3,
) -> InboundReceived:
    return InboundReceived(
        event_id, tenant, channel, source, "conv", Customer("c"), 100.0, priority=priority
    )


def config(*rules: RuleConfig, default: str = "") -> TenantConfig:
    depts = {d: DepartmentConfig(d) for d in ("sales", "support", "billing", "tech")}
    return TenantConfig("acme", 9, depts, {}, rules, default)


def placed(decision: RouteDecision) -> tuple[str | None, str]:
    return decision.department, decision.rule


def matches(rule: RuleConfig, event: InboundReceived) -> bool:
    return route(config(rule), event).matched == (rule.name,)


def test_first_match_wins() -> None:
    cfg = config(
        RuleConfig("first", "billing", channel=("email",)),
        RuleConfig("second", "sales", channel=("email",)),
        RuleConfig("catch-all", "support"),
    )
    assert placed(route(cfg, inbound("email"))) == ("billing", "first")
    assert placed(route(cfg, inbound("chat", "chat:web"))) == ("support", "catch-all")


def test_rule_order_not_specificity_decides() -> None:
    cfg = config(
        RuleConfig("broad", "support", channel=("email",)),
        RuleConfig("narrow", "billing", channel=("email",), source=("email:billing@acme",)),
    )
    assert route(cfg, inbound("email", "email:billing@acme")).rule == "broad"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [("email", "billing"), ("social", "billing"), ("chat", "support"), ("call", "support")],
)
def test_channel_condition(channel: Channel, expected: str) -> None:
    cfg = config(RuleConfig("r", "billing", channel=("email", "social")), default="support")
    assert route(cfg, inbound(channel, f"{channel}:x")).department == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("email:billing@acme", "billing"),
        ("email:invoices@acme", "billing"),
        ("email:billing@acme.evil", "support"),
        ("email:BILLING@acme", "support"),
        ("", "support"),
    ],
)
def test_source_is_an_exact_match(source: str, expected: str) -> None:
    cfg = config(
        RuleConfig("r", "billing", source=("email:billing@acme", "email:invoices@acme")),
        default="support",
    )
    assert route(cfg, inbound("email", source)).department == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("email:tech", "tech"),
        ("email:tech-support@acme", "tech"),
        ("email:it@acme", "tech"),
        ("email:support-tech@acme", "support"),
        ("chat:tech", "support"),
    ],
)
def test_source_prefix(source: str, expected: str) -> None:
    cfg = config(
        RuleConfig("r", "tech", source_prefix=("email:tech", "email:it@")), default="support"
    )
    assert route(cfg, inbound("email", source)).department == expected


def test_all_conditions_must_hold() -> None:
    rule = RuleConfig("r", "tech", channel=("email",), source_prefix=("email:tech",))
    assert matches(rule, inbound("email", "email:tech@acme"))
    assert not matches(rule, inbound("chat", "email:tech@acme"))
    assert not matches(rule, inbound("email", "email:sales@acme"))


def test_a_rule_without_conditions_matches_everything() -> None:
    rule = RuleConfig("any", "support")
    for channel in ("email", "social", "chat", "call"):
        assert matches(rule, inbound(channel, ""))


def test_default_department() -> None:
    cfg = config(RuleConfig("r", "sales", channel=("chat",)), default="support")
    decision = route(cfg, inbound("email"))
    assert placed(decision) == ("support", DEFAULT_RULE)
    assert decision.reason == ""
    assert decision.outcome == "default"


def test_no_match_and_no_default() -> None:
    cfg = config(RuleConfig("r", "sales", channel=("chat",)))
    decision = route(cfg, inbound("email"))
    assert decision.department is None
    assert decision.rule == ""
    assert decision.reason  # says why, for the unroutable event


def test_no_rules_at_all() -> None:
    assert route(config(default="sales"), inbound()).department == "sales"
    assert route(config(), inbound()).department is None


@pytest.mark.parametrize(
    ("channel", "source", "department", "rule"),
    [
        ("email", "email:billing@demo.example", "billing", "billing-mailbox"),
        ("email", "email:invoices@demo.example", "billing", "billing-mailbox"),
        ("chat", "chat:pricing", "sales", "sales-chat-button"),
        ("call", "call:+15550100", "sales", "sales-hotline"),
        ("call", "call:+15550199", "technical", "tech-hotline"),
        ("email", "email:tech-help@demo.example", "technical", "tech-mailbox"),
        ("social", "social:facebook", "support", "social-to-support"),
        ("chat", "chat:help", "support", DEFAULT_RULE),
        ("email", "email:hello@demo.example", "support", DEFAULT_RULE),
        ("chat", "email:billing@demo.example", "support", DEFAULT_RULE),
    ],
)
def test_demo_rules(channel: Channel, source: str, department: str, rule: str) -> None:
    decision = route(load_config_file(DEMO_CONFIG), inbound(channel, source))
    assert placed(decision) == (department, rule)


# --- the rule stage's decode-and-route step --------------------------------------------


def _config_for(cfg: TenantConfig) -> Callable[[str], TenantConfig | None]:
    def lookup(tenant: str) -> TenantConfig | None:
        return cfg if tenant == cfg.tenant else None

    return lookup


def test_route_record_routes() -> None:
    cfg = config(RuleConfig("r", "billing", channel=("email",)))
    ev = inbound("email", priority=2)
    out = route_record(encode(ev), topics.INBOUND["email"], _config_for(cfg), 150.0, 151.0)
    assert out == TicketRouted(
        ticket_id="in-1",
        tenant="acme",
        channel="email",
        source=ev.source,
        conversation_id="conv",
        department="billing",
        rule="r",
        config_version=9,
        priority=2,
        received_at=100.0,
        ingested_at=150.0,
        routed_at=151.0,
        reason="",
        explanation={
            "outcome": "routed",
            "triggers": ["ticket_created"],
            "evaluated": 1,
            "matched": ["r"],
            "conditions": ["channel in ['email']"],
        },
    )


def test_route_record_without_a_department_becomes_unroutable() -> None:
    cfg = config(RuleConfig("r", "billing", channel=("email",)))
    out = route_record(
        encode(inbound("chat", "chat:x")), topics.INBOUND["chat"], _config_for(cfg), 1.0, 2.0
    )
    assert isinstance(out, TicketRouted)
    assert out.department == ""
    assert out.reason
    t = on_ticket_routed(MemoryState(), cfg, out, 3.0)
    (ev,) = t.emitted
    assert isinstance(ev, TicketUnroutable)
    assert ev.reason == out.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[]", "not_an_object"),
        (encode(TicketUnroutable("t", "acme", "chat", "x", 1.0)), "unknown_type"),
        (orjson.dumps({"type": "InboundReceived", "event_id": "x"}), "missing_field"),
    ],
)
def test_route_record_rejects_bad_input(raw: bytes, reason: str) -> None:
    out = route_record(raw, topics.INBOUND["chat"], _config_for(config()), 1.0, 2.0)
    assert isinstance(out, Rejected)
    assert out.reason == reason
    assert out.detail


def test_route_record_rejects_wrong_channel_for_topic() -> None:
    raw = encode(inbound("chat", "chat:x"))
    out = route_record(raw, topics.INBOUND["email"], _config_for(config()), 1.0, 2.0)
    assert isinstance(out, Rejected)
    assert out.reason == "wrong_channel"


def test_route_record_rejects_unknown_tenant() -> None:
    raw = encode(inbound(tenant="globex"))
    out = route_record(raw, topics.INBOUND["email"], _config_for(config()), 1.0, 2.0)
    assert out == Rejected("unknown_tenant", "tenant 'globex' has no config")


def test_route_record_carries_what_the_rules_did() -> None:
    from schemas.config_file import parse_config_text

    cfg = parse_config_text(
        "tenant: acme\ndepartments: [{id: sales}]\nagents: [{id: ann, departments: [sales]}]\n"
        "rules:\n"
        "  - {name: vip, stop: false, if: [{field: customer.vip, op: equals, value: true}],"
        " actions: [{set_priority: 1}, {add_tag: vip}, {assign_agent: ann}, leave_unassigned]}\n"
        "  - {name: spam, if: [{field: automatic, op: is_set}], actions: [{drop: auto mail}]}\n"
        "  - {name: all, actions: [{transfer: sales}]}\n",
        "t.yaml",
        version=4,
    )
    ev = InboundReceived(
        "in-1", "acme", "email", "email:x", "c", Customer("c"), 1.0, attributes={"vip": True}
    )
    out = route_record(encode(ev), topics.INBOUND["email"], _config_for(cfg), 2.0, 3.0)
    assert isinstance(out, TicketRouted)
    assert (out.department, out.rule, out.config_version, out.priority) == ("sales", "all", 4, 1)
    assert (out.tags, out.preferred_agent, out.leave_unassigned) == (("vip",), "ann", True)
    assert out.explanation["matched"] == ["vip", "all"]

    spam = InboundReceived(
        "in-2",
        "acme",
        "email",
        "email:x",
        "c",
        Customer("c"),
        1.0,
        attributes={"automatic": "bulk"},
    )
    dropped = route_record(encode(spam), topics.INBOUND["email"], _config_for(cfg), 2.0, 3.0)
    assert isinstance(dropped, TicketRouted)
    assert (dropped.department, dropped.rule) == ("", "spam")
    assert dropped.reason == "dropped by rule spam: auto mail"
    assert dropped.explanation["outcome"] == "dropped"
    (unroutable,) = on_ticket_routed(MemoryState(), cfg, dropped, 4.0).emitted
    assert isinstance(unroutable, TicketUnroutable)
    assert unroutable.reason == "dropped by rule spam: auto mail"


def test_ticket_routed_records_from_before_the_rules_engine_still_decode() -> None:
    from schemas.codec import decode

    old = {
        "type": "TicketRouted",
        "v": 1,
        "ticket_id": "t",
        "tenant": "acme",
        "channel": "chat",
        "source": "chat:x",
        "conversation_id": "c",
        "department": "sales",
        "rule": "r",
        "config_version": 1,
        "priority": 3,
        "received_at": 1.0,
        "ingested_at": 1.0,
        "routed_at": 1.0,
    }
    ev = decode(orjson.dumps(old))
    assert isinstance(ev, TicketRouted)
    assert (ev.tags, ev.preferred_agent, ev.leave_unassigned, ev.explanation) == ((), "", False, {})


def test_workers_apply_newer_configs_and_refuse_bad_rules() -> None:
    import dataclasses

    from schemas.tenant_config import ConditionConfig
    from streams import metrics
    from streams.config_store import ConfigStore

    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    tenant = "reload-test"
    store = ConfigStore()
    v1 = dataclasses.replace(config(RuleConfig("r", "sales")), tenant=tenant, version=1)
    v2 = dataclasses.replace(v1, version=2, rules=(RuleConfig("r", "billing"),))
    rejected = sample("deskroute_config_rejected_total")
    store.apply_record(b"", encode(v1))
    store.apply_record(b"", encode(v2))
    store.apply_record(b"", encode(v1))  # an older version read again changes nothing
    assert store.get(tenant) == v2
    assert sample("deskroute_config_reloads_total", tenant=tenant) == 1
    assert sample("deskroute_config_version", tenant=tenant) == 2
    bad_rule = RuleConfig("r", "sales", groups=((ConditionConfig("subject", "containz", "x"),),))
    store.apply_record(b"", encode(dataclasses.replace(v2, version=3, rules=(bad_rule,))))
    assert store.get(tenant) == v2
    assert sample("deskroute_config_rejected_total") == rejected + 1
    assert route(v2, inbound()).department == "billing"
