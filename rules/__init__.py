"""The rule stage's core: which department a ticket belongs to, and what else the rules do.

Pure: no Faust, no Kafka. ``route`` for inbound events, ``decide`` for any
trigger, ``config_problems`` to refuse a config before it is used, ``explain``
for people.
"""

from rules.checks import config_problems
from rules.compiler import compiled_for
from rules.engine import DEFAULT_RULE, OUTCOMES, RouteDecision, decide, route
from rules.explain import explain
from rules.facts import Facts, facts_for

__all__ = [
    "DEFAULT_RULE",
    "OUTCOMES",
    "Facts",
    "RouteDecision",
    "compiled_for",
    "config_problems",
    "decide",
    "explain",
    "facts_for",
    "route",
]
