"""The Faust app: two stages over co-partitioned topics, four state tables, web views.

Stage 1 (rules) reads the inbound topics, decodes, picks a department, and re-keys
by tenant onto ``deskroute.tickets.routed``. Stage 2 (assignment) reads routed
tickets and agent events from one agent, so each partition has a single writer
of its tables, calls the pure core and writes back what the core returned.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from prometheus_client import generate_latest

from agents_state import AgentState, DepartmentState, TicketState, on_agent_event, on_ticket_routed
from agents_state.model import KEY_SEP
from agents_state.transitions import Readable, Transition
from schemas.codec import DecodeError, decode_as, encode
from schemas.events import (
    AgentEvent,
    EventDeadLettered,
    TicketAssigned,
    TicketQueued,
    TicketRouted,
    TicketUnroutable,
)
from streams import metrics, serializers, topics
from streams.config_store import ConfigStore
from streams.kafka import Transport
from streams.rule_stage import Rejected, route_record
from streams.settings import Settings

log = logging.getLogger("deskroute.worker")

_OUTPUT_TOPIC = {
    TicketAssigned: topics.ASSIGNED,
    TicketQueued: topics.QUEUED,
    TicketUnroutable: topics.UNROUTABLE,
}


class DeskrouteApp(faust.App):
    deskroute_settings: Settings
    deskroute_configs: ConfigStore

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


@dataclass(frozen=True, slots=True)
class TableView:
    agents: Readable[AgentState]
    departments: Readable[DepartmentState]
    tickets: Readable[TicketState]
    seen: Readable[float]


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives ``key``."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def create_app(settings: Settings) -> DeskrouteApp:
    serializers.register()
    app = DeskrouteApp(
        settings.app_id,
        broker=[f"kafka://{s}" for s in settings.bootstrap_servers],
        store="memory://",
        datadir=str(settings.data_path),
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_request_timeout=max(40.0, settings.session_timeout_s + 1),
        producer_max_batch_size=settings.producer_max_batch_bytes,
        producer_linger_ms=settings.producer_linger_ms,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.deskroute_settings = settings
    store = ConfigStore()
    app.deskroute_configs = store
    n = settings.partitions

    def raw_topic(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=n)

    inbound = raw_topic(*topics.INBOUND.values())
    assign_in = raw_topic(topics.ROUTED, topics.AGENT_EVENTS)
    out = {
        name: raw_topic(name)
        for name in (
            topics.ROUTED,
            topics.ASSIGNED,
            topics.QUEUED,
            topics.UNROUTABLE,
            topics.DEADLETTER,
        )
    }

    def table(name: str, codec: str) -> Any:
        return app.Table(
            name, partitions=n, schema=faust.Schema(key_serializer="dr_key", value_serializer=codec)
        )

    agents_t = table("agents", "dr_agent")
    departments_t = table("departments", "dr_department")
    tickets_t = table("tickets", "dr_ticket")
    seen_t = table("seen", "dr_json")
    view = TableView(agents_t, departments_t, tickets_t, seen_t)
    home_partition: dict[str, int] = {}

    def home(tenant: str) -> int:
        p = home_partition.get(tenant)
        if p is None:
            p = home_partition[tenant] = partition_for(tenant.encode(), n)
        return p

    async def dead_letter(msg: Any, reason: str, detail: str) -> None:
        metrics.DEADLETTERED.labels(reason).inc()
        headers = {
            (k if isinstance(k, str) else k.decode("utf-8", "replace")): (
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            )
            for k, v in (msg.headers or [])
        }
        record = EventDeadLettered(
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            reason=reason,
            detail=detail[:1000],
            original_b64=base64.b64encode(msg.value or b"").decode("ascii"),
            headers=headers,
            occurred_at=time.time(),
        )
        await out[topics.DEADLETTER].send(key=msg.key, value=encode(record))
        log.warning(
            "event dead-lettered",
            extra={
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "reason": reason,
                "detail": detail[:200],
            },
        )

    @app.task  # type: ignore[untyped-decorator]
    async def follow_configs() -> None:
        await store.run(settings.bootstrap_servers, topics.CONFIG, settings.fetch_max_wait_ms)

    @app.agent(inbound)
    async def rule_stage(stream: Any) -> None:
        await store.ready.wait()
        async for event in stream.events():
            msg = event.message
            started = time.perf_counter()
            channel = msg.topic.rsplit(".", 1)[-1]
            metrics.INGESTED.labels(channel).inc()
            value = msg.value or b""
            if len(value) > settings.max_record_bytes:
                await dead_letter(
                    msg, "oversize", f"{len(value)} bytes > {settings.max_record_bytes}"
                )
                continue
            result = route_record(value, msg.topic, store.get, msg.timestamp, time.time())
            if isinstance(result, Rejected):
                await dead_letter(msg, result.reason, result.detail)
                continue
            if result.department:
                metrics.RULE_MATCHES.labels(result.rule).inc()
                metrics.ROUTED.labels(result.department).inc()
            await out[topics.ROUTED].send(key=result.tenant.encode(), value=encode(result))
            metrics.STAGE_SECONDS.labels("rules").observe(time.perf_counter() - started)

    @app.agent(assign_in)
    async def assignment_stage(stream: Any) -> None:
        await store.ready.wait()
        async for event in stream.events():
            msg = event.message
            started = time.perf_counter()
            try:
                if msg.topic == topics.ROUTED:
                    ev: Any = decode_as(TicketRouted, msg.value or b"")
                else:
                    ev = decode_as(AgentEvent, msg.value or b"")  # type: ignore[arg-type]
            except DecodeError as exc:
                await dead_letter(msg, exc.reason, exc.detail)
                continue
            config = store.get(ev.tenant)
            if config is None:
                await dead_letter(msg, "unknown_tenant", f"tenant {ev.tenant!r} has no config")
                continue
            if home(ev.tenant) != msg.partition:
                # State of a tenant lives on one partition; a record elsewhere was
                # produced with a different partitioner and would split that state.
                await dead_letter(
                    msg,
                    "misrouted_key",
                    f"tenant {ev.tenant!r} belongs to partition {home(ev.tenant)}, got {msg.partition}"
                    " (produce with Kafka's default murmur2 partitioner, key = tenant)",
                )
                continue
            now = msg.timestamp
            if isinstance(ev, TicketRouted):
                t = on_ticket_routed(view, config, ev, now)
                stage = "assignment"
            else:
                t = on_agent_event(view, config, ev, now)
                stage = "agent_events"
            if t.duplicate:
                metrics.DUPLICATES.labels(stage).inc()
                continue
            if t.rejected:
                await dead_letter(msg, "rejected", t.rejected)
                continue
            if not isinstance(ev, TicketRouted):
                metrics.AGENT_EVENTS.labels(type(ev).__name__).inc()
                if t.noop:
                    metrics.NOOP_EVENTS.labels(t.noop).inc()
            # Outputs are handed to the producer before the state that records them,
            # so a crash can repeat an output (consumers dedupe by ticket id) but
            # never leave state saying "done" for an output that was never sent.
            await _emit(t, msg.key)
            _write(t)
            metrics.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - started)

    async def _emit(t: Transition, key: bytes | None) -> None:
        for e in t.emitted:
            await out[_OUTPUT_TOPIC[type(e)]].send(key=e.tenant.encode(), value=encode(e))
            if isinstance(e, TicketAssigned):
                metrics.ASSIGNED.labels(e.department, e.strategy, e.channel).inc()
                if e.waited_s == 0:
                    metrics.INGEST_TO_ASSIGN.labels(e.channel).observe(
                        max(0.0, time.time() - e.ingested_at)
                    )
                else:
                    metrics.QUEUE_WAIT.labels(e.channel).observe(e.waited_s)
            elif isinstance(e, TicketQueued):
                metrics.QUEUED.labels(e.department, e.channel).inc()
            elif isinstance(e, TicketUnroutable):
                metrics.UNROUTABLE.labels(e.channel).inc()

    def _write(t: Transition) -> None:
        for k, a in t.agents.items():
            agents_t[k] = a
        for k, d in t.departments.items():
            departments_t[k] = d
        for k, tk in t.tickets.items():
            tickets_t[k] = tk
        for k, s in t.seen.items():
            seen_t[k] = s

    def snapshot(now: float) -> list[tuple[Any, ...]]:
        """Queue and agent gauges for the tenants whose partition this worker holds."""
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == topics.ROUTED}
        rows: list[tuple[Any, ...]] = []
        for tenant, cfg in list(store.configs.items()):
            if home(tenant) not in owned:
                continue
            for dept_id, members in cfg.department_agents.items():
                dstate = departments_t.get(f"{tenant}{KEY_SEP}{dept_id}") or DepartmentState()
                for channel in ("email", "social", "chat", "call"):
                    queue = dstate.queues.get(channel, ())
                    oldest = max(0.0, now - queue[0].enqueued_at) if queue else 0.0
                    free = held = cap = 0
                    for agent_id in members:
                        a = agents_t.get(f"{tenant}{KEY_SEP}{agent_id}") or AgentState(agent_id)
                        c = a.capacity_override.get(
                            channel, cfg.agents[agent_id].capacity.get(channel, 0)
                        )
                        if a.presence == "online" and c > 0:
                            cap += c
                            held += a.load(channel)
                            free += a.load(channel) < c
                    rows.append((tenant, dept_id, channel, len(queue), oldest, free, held, cap))
        return rows

    metrics.REGISTRY.register(metrics.StateCollector(snapshot))

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(
            generate_latest(metrics.REGISTRY), content_type="text/plain; version=0.0.4"
        )

    @app.page("/health/live")
    async def live_view(web: Any, request: Any) -> Any:
        return web.json({"status": "live"})

    @app.page("/health/ready")
    async def ready_view(web: Any, request: Any) -> Any:
        ready = store.ready.is_set() and not app.rebalancing and bool(app.consumer.assignment())
        return web.json({"ready": ready}, status=200 if ready else 503)

    return app
