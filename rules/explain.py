"""``deskroute explain``: one event's evaluation, rule by rule, as text.

Runs the engine in tracing mode (every condition of every evaluated rule is
tested and shown with the value it saw), so what it prints is what the worker
decided for the same event and config version.
"""

from __future__ import annotations

import datetime as dt

from rules.engine import RouteDecision, decide
from rules.facts import Facts
from schemas.codec import DecodeError, from_mapping, loads_object
from schemas.events import InboundReceived
from schemas.tenant_config import TenantConfig


def event_from_json(raw: bytes) -> InboundReceived:
    """An ``InboundReceived`` as ``schemas.codec`` encodes it, or a bare JSON object
    of its fields; DecodeError says what does not fit."""
    obj = loads_object(raw)
    kind = obj.get("type", InboundReceived.TYPE)
    if kind != InboundReceived.TYPE:
        raise DecodeError("unknown_type", f"type={kind!r}, expected {InboundReceived.TYPE}")
    return from_mapping(InboundReceived, obj)


def parse_time(text: str) -> float:
    """Epoch seconds, or an ISO 8601 time with its offset (``2026-03-30T09:15+02:00``)."""
    try:
        return float(text)
    except ValueError:
        pass
    when = dt.datetime.fromisoformat(text)  # ValueError names what is wrong
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +02:00)")
    return when.timestamp()


def explain(config: TenantConfig, facts: Facts) -> tuple[RouteDecision, str]:
    """Decide for ``facts`` and describe how; the decision is returned too."""
    ev = facts.event
    start = (facts.department, facts.priority, tuple(facts.tags))
    decision = decide(config, facts, trace=True)
    lines = [
        f"event {ev.event_id}: {ev.channel} from {ev.source or '-'} at {_utc(facts.now)}",
        f"config {config.tenant} version {config.version}: {len(config.rules)} rules;"
        f" triggers: {', '.join(decision.triggers)}",
    ]
    if start[0]:
        lines.append(f"ticket waits in {start[0]}" + _wait(facts))
    if decision.skipped:
        lines.append(
            f"index: {decision.skipped} rule(s) skipped (an exact-match condition on"
            " channel/source/mailbox/chat_button/called_number cannot hold)"
        )
    lines.append("")
    for n, rule in enumerate(decision.trace, start=1):
        verdict = "MATCHED" if rule.matched_group >= 0 else "no match"
        flags = "" if rule.stop else "  [stop: false]"
        lines.append(f"{n}. {rule.name}: {verdict}{flags}")
        for g, group in enumerate(rule.groups):
            if len(rule.groups) > 1:
                lines.append(f"   any of, group {g + 1}:")
            if not group:
                lines.append("     (no conditions)")
            for cond in group:
                mark = "held  " if cond.held else "failed"
                lines.append(f"     {mark} {cond.text}   (actual: {cond.actual})")
        for effect in rule.effects:
            lines.append(f"     -> {effect}")
    if decision.trace and decision.trace[-1].matched_group >= 0:
        last = decision.trace[-1]
        if decision.outcome == "dropped" or last.stop:
            lines.append(f"stopped after {last.name}")
    lines += ["", "outcome: " + _outcome(decision, start)]
    return decision, "\n".join(lines)


def _outcome(d: RouteDecision, start: tuple[str, int, tuple[str, ...]]) -> str:
    if d.outcome == "dropped" or d.outcome == "no_match":
        head = f"unroutable: {d.reason}"
    elif d.outcome == "default":
        head = f"default department {d.department} (no rule placed the ticket)"
    elif d.outcome == "unchanged":
        head = f"stays in {d.department} (no rule moved it)"
    else:
        head = f"department {d.department} by rule {d.rule}"
    extras = []
    if d.priority != start[1]:
        extras.append(f"priority {d.priority}")
    if d.tags != start[2]:
        extras.append(f"tags [{', '.join(d.tags)}]")
    if d.preferred_agent:
        extras.append(f"preferred agent {d.preferred_agent} (if they can take it now)")
    if d.leave_unassigned:
        extras.append("leave unassigned (waits until an agent takes it)")
    if d.skills:
        extras.append("requires " + ", ".join(f"{k}>={v}" for k, v in d.skills.items()))
    if d.optional_skills:
        extras.append("prefers " + ", ".join(f"{k}>={v}" for k, v in d.optional_skills.items()))
    extras.append(f"{d.evaluated} rule(s) evaluated, matched: {', '.join(d.matched) or 'none'}")
    return "; ".join([head, *extras])


def _utc(epoch: float) -> str:
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return f"{epoch} (not a time)"


def _wait(facts: Facts) -> str:
    return "" if facts.wait_s is None else f" for {facts.wait_s:g} s"
