"""Prometheus metrics on deskroute's own registry.

Counters and histograms are updated by the stages; gauges of state (queue depth,
oldest wait, available agents, load) are computed at scrape time from the tables
by :class:`StateCollector`, so the hot path pays nothing for them. No label ever
holds a ticket or customer id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

#: Milliseconds to tens of seconds, in seconds (Prometheus base unit).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
)
#: Seconds to an hour, for time spent waiting in a queue.
WAIT_BUCKETS = (1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

INGESTED = Counter(
    "deskroute_ingested_events_total",
    "Inbound events read by the rule stage.",
    ["channel"],
    registry=REGISTRY,
)
DEADLETTERED = Counter(
    "deskroute_deadlettered_events_total",
    "Events sent to the dead-letter topic.",
    ["reason"],
    registry=REGISTRY,
)
RULE_MATCHES = Counter(
    "deskroute_rule_matches_total",
    "Tickets placed by each rule.",
    ["rule"],
    registry=REGISTRY,
)
ROUTED = Counter(
    "deskroute_routed_tickets_total",
    "Tickets routed to a department.",
    ["department"],
    registry=REGISTRY,
)
CLOCK_TICKS = Counter(
    "deskroute_clock_ticks_total",
    "Clock ticks this worker recorded for the routing domains it owns (offer timeouts, escalation).",
    registry=REGISTRY,
)
UNROUTABLE = Counter(
    "deskroute_unroutable_tickets_total",
    "Tickets no department could take.",
    ["channel"],
    registry=REGISTRY,
)
ASSIGNED = Counter(
    "deskroute_assignments_total",
    "Tickets assigned to an agent.",
    ["department", "strategy", "channel"],
    registry=REGISTRY,
)
QUEUED = Counter(
    "deskroute_queued_tickets_total",
    "Tickets that had to wait in a department queue.",
    ["department", "channel"],
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "deskroute_duplicate_events_total",
    "Redelivered events recognised and skipped.",
    ["stage"],
    registry=REGISTRY,
)
AGENT_EVENTS = Counter(
    "deskroute_agent_events_total",
    "Agent events applied.",
    ["type"],
    registry=REGISTRY,
)
NOOP_EVENTS = Counter(
    "deskroute_noop_agent_events_total",
    "Agent events that changed nothing, by why.",
    ["reason"],
    registry=REGISTRY,
)
INGEST_TO_ASSIGN = Histogram(
    "deskroute_ingest_to_assign_seconds",
    "From the inbound record's timestamp to the assignment, or to the offer of a chat or call,"
    " for work placed without waiting.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "deskroute_queue_wait_seconds",
    "Time assigned work spent waiting in a queue.",
    ["channel"],
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "deskroute_stage_processing_seconds",
    "Time a stage spends on one event.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CONFIG_VERSION = Gauge(
    "deskroute_config_version",
    "Config version in force per tenant.",
    ["tenant"],
    registry=REGISTRY,
)
CONFIG_REJECTED = Counter(
    "deskroute_config_rejected_total",
    "Config records that could not be applied.",
    registry=REGISTRY,
)


class StateCollector(Collector):
    """Queue and agent gauges computed from the state tables at scrape time.

    ``snapshot`` returns rows of (tenant, department, channel, depth, oldest_wait,
    available, load, capacity); keeping it a callable lets the worker hand over
    its tables without this module importing Faust. ``sla`` (from
    ``DESKROUTE_QUEUE_SLA``) adds the wait each queue should stay under, so the
    alert compares two series instead of hard-coding a number per department.
    ``agents`` returns (tenant, agent, channel, online, open_work, capacity) rows
    and is given only when ``DESKROUTE_PER_AGENT_METRICS`` is on.
    """

    def __init__(
        self,
        snapshot: Callable[[float], Iterable[tuple[Any, ...]]],
        sla: Mapping[tuple[str, str], float] | None = None,
        agents: Callable[[float], Iterable[tuple[Any, ...]]] | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._sla = dict(sla or {})
        self._agents = agents

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = time.time()
        labels = ["tenant", "department", "channel"]
        depth = GaugeMetricFamily("deskroute_queue_depth", "Tickets waiting.", labels=labels)
        oldest = GaugeMetricFamily(
            "deskroute_queue_oldest_wait_seconds",
            "Age of the oldest waiting ticket.",
            labels=labels,
        )
        sla = GaugeMetricFamily(
            "deskroute_queue_sla_seconds",
            "Longest a ticket should wait in this queue (DESKROUTE_QUEUE_SLA).",
            labels=labels,
        )
        available = GaugeMetricFamily(
            "deskroute_agents_available", "Online agents with free capacity.", labels=labels
        )
        load = GaugeMetricFamily("deskroute_agent_load", "Open work held by agents.", labels=labels)
        capacity = GaugeMetricFamily(
            "deskroute_agent_capacity", "Capacity of online agents.", labels=labels
        )
        for tenant, dept, channel, n, wait, free, held, cap in self._snapshot(now):
            lv = [tenant, dept, channel]
            depth.add_metric(lv, n)
            oldest.add_metric(lv, wait)
            available.add_metric(lv, free)
            load.add_metric(lv, held)
            capacity.add_metric(lv, cap)
            limit = self._sla.get((dept, channel), self._sla.get(("", channel)))
            if limit is not None:
                sla.add_metric(lv, limit)
        yield from (depth, oldest, sla, available, load, capacity)
        if self._agents is not None:
            online = GaugeMetricFamily(
                "deskroute_agent_online",
                "1 while the agent is online and takes the channel (per agent: opt-in).",
                labels=["tenant", "agent", "channel"],
            )
            work = GaugeMetricFamily(
                "deskroute_agent_open_work",
                "Open work the agent holds (per agent: opt-in).",
                labels=["tenant", "agent", "channel"],
            )
            cap_by_agent = GaugeMetricFamily(
                "deskroute_agent_channel_capacity",
                "The agent's capacity for the channel (per agent: opt-in).",
                labels=["tenant", "agent", "channel"],
            )
            for tenant, agent, channel, is_online, held, cap in self._agents(now):
                lv = [tenant, agent, channel]
                online.add_metric(lv, is_online)
                work.add_metric(lv, held)
                cap_by_agent.add_metric(lv, cap)
            yield from (online, work, cap_by_agent)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


REPLAYED = Counter(
    "deskroute_replayed_events_total",
    "Events read again after a restart and skipped because their effects were recorded.",
    registry=REGISTRY,
)
RESENT_OUTPUTS = Counter(
    "deskroute_resent_outputs_total",
    "Output records sent again after recovery because their delivery was not confirmed.",
    registry=REGISTRY,
)
STATE_BEHIND_COMMIT = Counter(
    "deskroute_state_behind_commit_total",
    "Recoveries that found offsets committed beyond the recorded state (lost effects).",
    registry=REGISTRY,
)
CHANGELOG_TAIL_RECORDS = Counter(
    "deskroute_changelog_tail_records_total",
    "Changelog records recovered past the end offset the broker reported.",
    registry=REGISTRY,
)
STATE_ROWS_DROPPED = Counter(
    "deskroute_state_rows_dropped_total",
    "State rows forgotten because their partition moved to another worker.",
    registry=REGISTRY,
)
SEEKS_REPEATED = Counter(
    "deskroute_consumer_seeks_repeated_total",
    "Seeks to the committed offsets repeated because records were fetched while one ran.",
    registry=REGISTRY,
)
FETCH_WAIT_RAISED = Counter(
    "deskroute_fetch_wait_raised_total",
    "Times a consumer's fetch wait doubled because the broker answered a partition "
    "that has records with none (the embedded broker's listing limit; README)",
    ["client"],
    registry=REGISTRY,
)
FETCH_MAX_WAIT = Gauge(
    "deskroute_fetch_max_wait_seconds",
    "How long the worker's consumer lets the broker hold a fetch now",
    registry=REGISTRY,
)
OUTPUTS_UNDELIVERED = Counter(
    "deskroute_records_undelivered_total",
    "Records the worker produced that the producer gave up on; the first one makes "
    "the worker exit before its next commit (exit status 70)",
    registry=REGISTRY,
)
FETCH_GAPS_HELD = Counter(
    "deskroute_fetch_gaps_held_total",
    "Offsets a consumer stopped at because the broker answered with the records after "
    "them first (stored later; the embedded broker, README)",
    registry=REGISTRY,
)
FETCH_GAPS = Counter(
    "deskroute_fetch_gaps_total",
    "Held offsets by how the hold ended: filled (stored and read) or skipped (never "
    "stored within DESKROUTE_FETCH_GAP_WAIT_S)",
    ["outcome"],
    registry=REGISTRY,
)
FETCH_GAP_WAIT = Histogram(
    "deskroute_fetch_gap_wait_seconds",
    "How long a consumer held at an offset the broker had not stored yet",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "deskroute_event_loop_lag_seconds",
    "How late the worker's event loop woke a 100 ms timer: the stages, the fetcher "
    "and the group's heartbeats share that loop",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
STATE_ROWS_EXPIRED = Counter(
    "deskroute_state_rows_expired_total",
    "State rows deleted after the dedupe retention window, by kind (ticket, seen).",
    ["kind"],
    registry=REGISTRY,
)
STATE_ROWS = Gauge(
    "deskroute_state_rows",
    "Rows in this worker's state table (every kind; in-memory store only).",
    registry=REGISTRY,
)


#: Outcomes of an offer (ring-all / offer-with-timeout for chats and calls).
OFFER_OUTCOMES = (
    "offered",
    "accepted",
    "declined",
    "timed_out",
    "agent_unavailable",
    "cancelled",
)
OFFERS = Counter(
    "deskroute_offers_total",
    "Offers to agents by outcome: offered (one per ringing agent), accepted, declined, "
    "timed_out, agent_unavailable (went away while it rang), cancelled (taken by "
    "another agent, or the customer left).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
ESCALATED = Counter(
    "deskroute_escalated_tickets_total",
    "Waiting tickets moved to another department (overflow after a wait, or a rule).",
    ["department", "channel"],
    registry=REGISTRY,
)
for _channel in ("chat", "call"):
    for _outcome in OFFER_OUTCOMES:
        OFFERS.labels(_channel, _outcome)


class LagCollector(Collector):
    """Consumer lag per assigned partition, computed at scrape time.

    ``offsets`` returns (topic, partition, highwater, committed) for the
    partitions this worker consumes; ``committed`` may be None before the first
    commit, when the whole partition counts as lag. Committed, not merely read,
    because records read but not committed are read again after a crash.
    """

    def __init__(self, offsets: Callable[[], Iterable[tuple[str, int, int, int | None]]]) -> None:
        self._offsets = offsets

    def collect(self) -> Iterable[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "deskroute_consumer_lag",
            "Records of an assigned partition not yet processed and committed "
            "(high watermark minus committed offset).",
            labels=["topic", "partition"],
        )
        for topic, partition, highwater, committed in self._offsets():
            lag.add_metric([topic, str(partition)], max(0, highwater - (committed or 0)))
        yield lag

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


class ReadyCollector(Collector):
    """``deskroute_ready``: 1 when the process serves (the same test as ``/health/ready``).

    A gauge as well as the endpoint, because Prometheus sees a worker that is up
    but stuck in recovery or rebalancing only through a metric.
    """

    def __init__(self, checks: Callable[[], Mapping[str, bool]]) -> None:
        self._checks = checks

    def collect(self) -> Iterable[GaugeMetricFamily]:
        checks = self._checks()
        ready = GaugeMetricFamily("deskroute_ready", "1 when every readiness check passes, else 0.")
        ready.add_metric([], 1 if all(checks.values()) else 0)
        check = GaugeMetricFamily(
            "deskroute_ready_check", "Each readiness check: 1 passes, 0 fails.", labels=["check"]
        )
        for name, ok in checks.items():
            check.add_metric([name], 1 if ok else 0)
        yield from (ready, check)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


# --- rules engine (issue 4) ----------------------------------------------------------
RULE_EVALUATIONS = Counter(
    "deskroute_rule_evaluations_total",
    "Rules whose conditions the rule stage evaluated (index-skipped rules not counted).",
    registry=REGISTRY,
)
RULE_UNROUTABLE = Counter(
    "deskroute_rule_unroutable_total",
    "Tickets the rules left without a department, by kind: dropped (a drop action) or"
    " no_match (no rule placed it and there is no default department).",
    ["kind"],
    registry=REGISTRY,
)
CONFIG_RELOADS = Counter(
    "deskroute_config_reloads_total",
    "Tenant configs replaced by a newer version while the worker runs.",
    ["tenant"],
    registry=REGISTRY,
)
