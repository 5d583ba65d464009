"""``deskroute explain``: one event's evaluation, rule by rule, as text.

Runs the engine in tracing mode (every condition of every evaluated rule is
tested and shown with the value it saw), so what it prints is what the worker
decided for the same event and config version.
"""

from __future__ import annotations

import datetime as dt

from rules.engine import RouteDecision, decide
from rules.facts import Facts
from schemas.tenant_config import TenantConfig


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
    if decision.trace and decision.trace[-1].matched_group >= 0 and decision.outcome != "unchanged":
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
        extras.append(f"preferred agent {d.preferred_agent} (not yet honoured by assignment)")
    if d.leave_unassigned:
        extras.append("leave unassigned (not yet honoured by assignment)")
    extras.append(f"{d.evaluated} rule(s) evaluated, matched: {', '.join(d.matched) or 'none'}")
    return "; ".join([head, *extras])


def _utc(epoch: float) -> str:
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return f"{epoch} (not a time)"


def _wait(facts: Facts) -> str:
    return "" if facts.wait_s is None else f" for {facts.wait_s:g} s"
