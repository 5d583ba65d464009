"""The gateway's Prometheus metrics, on a registry of its own.

The gateway is a separate process from the workers; its ``/metrics`` shows only
what it does. Labels are bounded sets (route, adapter, status class, reason),
never a tenant, ticket or customer id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.metrics import LATENCY_BUCKETS

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "deskroute_gateway_requests_total",
    "HTTP requests answered, by route and status class (2xx, 4xx, 5xx).",
    ["route", "outcome"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "deskroute_gateway_events_total",
    "Payload items by channel adapter and outcome: published, ignored (nothing to route), "
    "rejected (dead-lettered), unavailable (broker down, not stored).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
SIGNATURE_FAILURES = Counter(
    "deskroute_gateway_signature_failures_total",
    "Requests refused for a missing or invalid signature or token.",
    ["channel", "reason"],
    registry=REGISTRY,
)
DEADLETTERED = Counter(
    "deskroute_gateway_deadlettered_total",
    "Well-formed but unusable payloads kept on the dead-letter topic, by reason.",
    ["reason"],
    registry=REGISTRY,
)
PUBLISH_SECONDS = Histogram(
    "deskroute_gateway_publish_seconds",
    "From handing a request's records to the producer to the broker's acknowledgement of all.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
BROKER_CONNECTED = Gauge(
    "deskroute_gateway_broker_connected",
    "1 while the gateway's producer is connected and its last send succeeded.",
    registry=REGISTRY,
)
