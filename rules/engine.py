"""First-match department transfer over the tenant's ordered rules.

Pure and synchronous: the same function runs in the worker and in tests, and the
decision names the rule that matched so that every ``TicketRouted`` is explainable.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import InboundReceived
from schemas.tenant_config import RuleConfig, TenantConfig

DEFAULT_RULE = "(default department)"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    department: str | None
    rule: str
    #: Why nothing matched, when ``department`` is None.
    reason: str = ""


def matches(rule: RuleConfig, event: InboundReceived) -> bool:
    if rule.channel and event.channel not in rule.channel:
        return False
    if rule.source and event.source not in rule.source:
        return False
    return not (rule.source_prefix and not event.source.startswith(rule.source_prefix))


def route(config: TenantConfig, event: InboundReceived) -> RouteDecision:
    for rule in config.rules:
        if matches(rule, event):
            return RouteDecision(rule.department, rule.name)
    if config.default_department:
        return RouteDecision(config.default_department, DEFAULT_RULE)
    return RouteDecision(None, "", "no rule matched and the tenant has no default department")
