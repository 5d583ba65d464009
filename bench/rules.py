"""The rule stage's per-event cost with 10, 200 and 2,000 rules, in process (no broker).

Times :func:`rules.route` (facts, candidate lookup, conditions, actions) over
realistic inbound events. Each tenant has the same few generic rules that no
index can narrow (drop automatic mail, tag VIPs, tag after-hours tickets,
urgent subjects) at the top of the list, and the rest are exact-match
rules by mailbox, source, chat button or called number, which is how a help desk
with thousands of rules gets there. 70 % of the events hit one of those, the
rest fall through to the default department (the worst case: every candidate
is evaluated).

Figures: ``rules_us_<n>`` (best of 7 passes, microseconds per event) and
``rules_ratio_<n>`` = cost with n rules / cost with 10; near 1 means the cost
does not grow with the indexed rules.
"""

from __future__ import annotations

import gc
import random
import time

from bench.common import say
from rules import compiled_for, route
from schemas.config_file import parse_config_text
from schemas.events import Customer, InboundReceived
from schemas.tenant_config import TenantConfig

DEFAULT_EVENTS = 20_000
SIZES = (10, 200, 2000)
PASSES = 7

GENERIC = [
    "  - {name: drop-automatic, if: [{field: automatic, op: in, value: [bounce, auto-reply]}],"
    " actions: [{drop: automatic mail}]}",
    "  - {name: vip, stop: false, if_any: [[{field: customer.vip, op: equals, value: true}],"
    " [{field: customer.plan, op: in, value: [enterprise]}]], actions: [{set_priority: 1}, {add_tag: vip}]}",
    "  - {name: after-hours, stop: false, if: [{field: time, op: outside_hours, value: support}],"
    " actions: [{add_tag: after-hours}]}",
    "  - {name: urgent, stop: false, if: [{field: subject, op: matches, value: '(?i)\\burgent\\b'}],"
    " actions: [{set_priority: 2}]}",
]
HEAD = """\
tenant: bench
default_department: support
departments:
  - id: support
    hours: {timezone: Europe/Paris, weekly: {mon: ["08:00-18:00"], tue: ["08:00-18:00"]}}
  - {id: sales}
  - {id: billing}
rules:
"""


def _indexed_rule(i: int) -> tuple[str, str]:
    """The i-th exact-match rule and the source of an event it places."""
    dept = ("sales", "billing", "support")[i % 3]
    kind = i % 4
    if kind == 0:
        box = f"team{i}@acme.example"
        cond = f"{{field: mailbox, op: equals, value: '{box}'}}"
        return _rule(f"mailbox-{i}", cond, dept), f"email:{box}"
    if kind == 1:
        sources = [f"email:desk{i}@acme.example", f"email:desk{i}-alt@acme.example"]
        cond = "{field: source, op: in, value: [" + ", ".join(f"'{s}'" for s in sources) + "]}"
        return _rule(f"sources-{i}", cond, dept), sources[1]
    if kind == 2:
        cond = f"{{field: chat_button, op: equals, value: button{i}}}"
        return _rule(f"button-{i}", cond, dept), f"chat:button{i}"
    cond = f"{{field: called_number, op: equals, value: '+3310000{i:04d}'}}"
    return _rule(f"line-{i}", cond, dept), f"call:+3310000{i:04d}"


def _rule(name: str, cond: str, dept: str) -> str:
    return f"  - {{name: {name}, if: [{{field: channel, op: in, value: [email, chat, call]}}, {cond}], actions: [{{transfer: {dept}}}]}}"


def tenant(n: int) -> tuple[TenantConfig, list[str]]:
    """``n`` rules: the generic ones first (as a help desk orders them: spam and VIPs
    before routing), then exact-match ones; and the sources that hit those."""
    indexed = [_indexed_rule(i) for i in range(n - len(GENERIC))]
    lines = GENERIC + [rule for rule, _ in indexed]
    config = parse_config_text(HEAD + "\n".join(lines) + "\n", f"bench-{n}.yaml")
    assert len(config.rules) == n
    return config, [source for _, source in indexed]


def events(n: int, sources: list[str], rng: random.Random) -> list[InboundReceived]:
    out = []
    for i in range(n):
        if rng.random() < 0.7:
            source = rng.choice(sources)
        else:
            source = rng.choice(
                ["email:unknown@acme.example", "chat:other", "call:+1555", "facebook:page"]
            )
        channel = {"email": "email", "chat": "chat", "call": "call"}.get(
            source.split(":")[0], "social"
        )
        out.append(
            InboundReceived(
                f"e{i}",
                "bench",
                channel,  # type: ignore[arg-type]
                source,
                f"c{i}",
                Customer(f"c{i}", "Ada", f"ada{i}@example.org"),
                1_780_000_000.0 + i * 37,
                subject=rng.choice(["Invoice", "URGENT: down", "Question", "Re: order 1234"]),
                text="Hello, " * rng.randint(1, 40),
                attributes=rng.choice(
                    [{}, {}, {"automatic": "bounce"}, {"customer": {"vip": True}}]
                ),
            )
        )
    return out


def per_event_us(config: TenantConfig, sample: list[InboundReceived]) -> float:
    compiled_for(config)  # compiled once per config version, as the worker does on apply
    for ev in sample[:500]:
        route(config, ev)
    passes = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(PASSES):
            started = time.perf_counter()
            for ev in sample:
                route(config, ev)
            passes.append((time.perf_counter() - started) / len(sample) * 1e6)
    finally:
        gc.enable()
    return min(passes)  # the least disturbed pass: other processes only ever add time


def run(n: int) -> dict[str, float]:
    rng = random.Random(4)
    out: dict[str, float] = {}
    for size in SIZES:
        config, sources = tenant(size)
        cost = per_event_us(config, events(n, sources, rng))
        out[f"rules_us_{size}"] = round(cost, 2)
        say(f"rules: {size} rules: {cost:.2f} us/event")
    base = out[f"rules_us_{SIZES[0]}"]
    for size in SIZES[1:]:
        out[f"rules_ratio_{size}"] = round(out[f"rules_us_{size}"] / base, 3)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(DEFAULT_EVENTS)))
