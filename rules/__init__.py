"""The rule stage's core: which department an inbound ticket belongs to."""

from rules.engine import RouteDecision, route

__all__ = ["RouteDecision", "route"]
