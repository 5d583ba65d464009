"""The Faust app: two stages over co-partitioned topics, one state table, web views.

Stage 1 (rules) reads the inbound topics, decodes, picks a department, and re-keys
by tenant onto ``deskroute.tickets.routed``. Stage 2 (assignment) reads routed
tickets and agent events from one agent, so each partition has a single writer
of its state, calls the pure core and writes back what the core returned, closing
each batch of events with a marker row (see :mod:`streams.state_table`). On a clock tick it
also deletes the rows whose dedupe retention ran out (:mod:`streams.expiry`).

The stages send their records with Faust's own producer but not through Faust's
per-record send path (:func:`streams.kafka.direct_producer`): the records, their
order, the flush before every commit and the changelog are the same.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from prometheus_client import generate_latest

from agents_state import (
    AgentState,
    DepartmentState,
    state_key,
)
from agents_state.transitions import Transition
from schemas.codec import DecodeError, decode_as, encode
from schemas.dead_letters import dead_letter as dead_letter_of
from schemas.events import ClockTicked
from streams import fetch_gaps, metrics, topics
from streams.admin import reader
from streams.assignment import OUTPUT_TOPIC, AssignmentInput, count_outcome, run_core
from streams.config_store import ConfigStore
from streams.health import consumer_offsets, readiness_checks
from streams.kafka import Transport, direct_producer
from streams.rule_stage import Rejected, route_record
from streams.security import client_kwargs, faust_credentials
from streams.settings import Settings, parse_sla
from streams.skew import future_timestamp
from streams.state_table import (
    AGENT,
    DEPARTMENT,
    SEEN,
    SEP,
    TICKET,
    AtomicTable,
    Marker,
    marker_key,
)
from streams.table_view import TableView

log = logging.getLogger("deskroute.worker")

#: How long a changelog tail read waits, without a record, for a broker that answers
#: its partition with none although it holds some, before recovery fails loudly.
TAIL_STARVED_S = 120.0
#: The loop-lag probe's sleep.
LAG_PROBE_S = 0.1


class DeskrouteApp(faust.App):
    deskroute_settings: Settings
    deskroute_configs: ConfigStore
    #: Closes the assignment stage's open batch (see :meth:`streams.kafka._Consumer.wait_empty`).
    deskroute_before_wait_empty: Callable[[], Awaitable[None]] | None = None

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return Transport(self.conf.broker_producer, self)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives ``key``."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def create_app(settings: Settings) -> DeskrouteApp:
    app = DeskrouteApp(
        settings.app_id,
        broker=[f"kafka://{s}" for s in settings.bootstrap_servers],
        store=settings.store,
        broker_credentials=faust_credentials(settings),
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
        producer_max_batch_size=settings.worker_max_batch_bytes,
        # The relay forwards agent events up to max_record_bytes as they are.
        producer_max_request_size=settings.max_record_bytes + 16384,
        producer_linger_ms=settings.worker_linger_ms,
        producer_request_timeout=settings.delivery_timeout_s,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.deskroute_settings = settings
    # Every consumer of the worker holds at offsets the broker has not stored yet.
    fetch_gaps.install(settings.fetch_gap_wait_s)
    store = ConfigStore()
    app.deskroute_configs = store
    n = settings.partitions

    def raw_topic(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=n)

    inbound = raw_topic(*topics.INBOUND.values())
    # The assignment stage reads ONE topic: a replay after a crash must see its
    # records in the order they were first applied, and Kafka orders records only
    # within a topic partition. Agent events are relayed into it unchanged.
    assign_in = raw_topic(topics.ROUTED)
    agent_events = raw_topic(topics.AGENT_EVENTS)
    out = {
        name: raw_topic(name)
        for name in (topics.ROUTED, topics.DEADLETTER, *set(OUTPUT_TOPIC.values()))
    }

    state = AtomicTable(
        app,
        name="state",
        beacon=app.tables.beacon,
        partitions=n,
        changelog_topic=app.topic(
            topics.changelog_topic(settings.app_id, "state"),
            key_serializer="dr_state_key",
            value_serializer="dr_state",
            partitions=n,
            compacting=True,
            internal=True,
            acks=False,
            maxsize=131_072,
            allow_empty=True,
        ),
    )
    # Faust derives the serializers of changelog writes from key_type/value_type
    # (JSON when unset), which would not round-trip our tagged rows.
    state.key_serializer = "dr_state_key"
    state.value_serializer = "dr_state"
    app.tables.add(state)
    view = TableView(state)
    prefixes = {
        "agents": AGENT + SEP,
        "departments": DEPARTMENT + SEP,
        "tickets": TICKET + SEP,
        "seen": SEEN + SEP,
    }
    home_partition: dict[str, int] = {}

    def home(tenant: str) -> int:
        p = home_partition.get(tenant)
        if p is None:
            p = home_partition[tenant] = partition_for(tenant.encode(), n)
        return p

    def owned_partitions() -> set[int]:
        """Partitions of the assignment stage's input (hence of tenants) this worker holds."""
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == topics.ROUTED}

    def dead_letter(msg: Any, reason: str, detail: str) -> tuple[str, bytes | None, bytes]:
        metrics.DEADLETTERED.labels(reason).inc()
        headers = {
            (k if isinstance(k, str) else k.decode("utf-8", "replace")): (
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            )
            for k, v in (msg.headers or [])
        }
        record = dead_letter_of(
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            reason=reason,
            detail=detail,
            original=msg.value or b"",
            headers=headers,
            occurred_at=time.time(),
        )
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
        return topics.DEADLETTER, msg.key, encode(record)

    async def resend(records: list[tuple[str, str, str]]) -> None:
        for topic, key_b64, value in records:
            # Handed to the client, not awaited: recovery must not wait on the broker;
            # the next commit's flush covers them.
            await app.producer.send(
                topic, base64.b64decode(key_b64) or None, value.encode(), None, None, None
            )
        metrics.RESENT_OUTPUTS.inc(len(records))

    async def committed_offsets(partitions: set[int]) -> dict[tuple[str, int], int]:
        admin = AIOKafkaAdminClient(**client_kwargs(settings))
        await admin.start()
        try:
            tps = [TopicPartition(t, p) for t in (topics.ROUTED,) for p in partitions]
            got = await admin.list_consumer_group_offsets(settings.app_id, partitions=tps)
        finally:
            await admin.close()
        return {(tp.topic, tp.partition): max(0, meta.offset) for tp, meta in got.items()}

    async def read_tail(partition: int, start: int) -> list[tuple[int, bytes, bytes | None]]:
        tp = TopicPartition(topics.changelog_topic(settings.app_id, "state"), partition)
        consumer = reader(settings)
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            rows: list[tuple[int, bytes, bytes | None]] = []
            give_up = time.monotonic() + TAIL_STARVED_S
            while True:
                got = await consumer.getmany(tp, timeout_ms=200)
                records = got.get(tp, [])
                if records:
                    rows += [(r.offset, r.key or b"", r.value) for r in records]
                    give_up = time.monotonic() + TAIL_STARVED_S
                    continue
                highwater = consumer.highwater(tp)
                if highwater is None or await consumer.position(tp) >= highwater:
                    return rows
                # Records below the high watermark came back as none: the broker's
                # listing limit, while the reader's fetch wait rises to it. Stopping
                # here would recover the partition without its last rows.
                if time.monotonic() > give_up:
                    raise RuntimeError(
                        f"changelog {tp.topic}[{partition}]: the broker returned no records "
                        f"below its high watermark {highwater} for {TAIL_STARVED_S:.0f} s"
                    )
        finally:
            await consumer.stop()

    state.read_tail = read_tail
    state.resend = resend
    state.committed_offsets = committed_offsets
    state.producer = lambda: direct_producer(app)
    state.partition_of = home

    def table_rows() -> float:
        rows = state.rows()
        return float("nan") if rows is None else float(rows)

    metrics.STATE_ROWS.set_function(table_rows)
    retention = settings.dedupe_retention_s

    @app.task  # type: ignore[untyped-decorator]
    async def dump_tasks_on_sigusr1() -> None:
        """``kill -USR1 <worker>`` writes every asyncio task's stack to the log."""

        def dump() -> None:
            for task in asyncio.all_tasks():
                chain: list[str] = []
                coro: Any = task.get_coro()
                while coro is not None:
                    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                    if frame is not None:
                        chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
                    coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                log.warning("task %s: %s", task.get_name(), " -> ".join(chain))

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)

    @app.task  # type: ignore[untyped-decorator]
    async def watch_loop_lag() -> None:
        """Time a short sleep again and again: the oversleep is how long something
        held the loop (the fetcher and the heartbeats run on it too)."""
        clock = asyncio.get_running_loop().time
        observe = metrics.LOOP_LAG.observe
        while not app.should_stop:
            started = clock()
            await asyncio.sleep(LAG_PROBE_S)
            observe(max(0.0, clock() - started - LAG_PROBE_S))

    @app.task  # type: ignore[untyped-decorator]
    async def follow_configs() -> None:
        await store.run(
            client_kwargs(settings),
            topics.CONFIG,
            settings.fetch_max_wait_ms,
            settings.fetch_max_wait_ceiling_ms,
        )

    @app.timer(interval=settings.tick_seconds)  # type: ignore[untyped-decorator]
    async def clock() -> None:
        """Record the passing of time for every routing domain this worker owns.

        Every worker runs this timer, and each one ticks only the partitions it
        holds; a tick sent by a worker that just lost its partition is harmless
        (the new owner applies it like any other: time is monotonic per partition).
        """
        owned = owned_partitions()
        if not owned:
            return
        now = time.time()
        for tenant in list(store.configs):
            p = home(tenant)
            if p in owned:
                await out[topics.ROUTED].send(
                    key=tenant.encode(), value=encode(ClockTicked(tenant, now)), partition=p
                )
                metrics.CLOCK_TICKS.inc()

    skew = settings.max_clock_skew_s
    limit = settings.max_record_bytes

    def refused_unread(msg: Any, wall: float) -> tuple[str, str] | None:
        """(reason, detail) for a record every stage refuses before decoding it: too
        large, or stamped too far ahead (:mod:`streams.skew`)."""
        size = len(msg.value or b"")
        if size > limit:
            return "oversize", f"{size} bytes > {limit}"
        ahead = future_timestamp(msg.timestamp, None, wall, skew)
        return ("future_timestamp", ahead) if ahead else None

    @app.agent(inbound)
    async def rule_stage(stream: Any) -> None:
        await store.ready.wait()
        send = direct_producer(app).send
        async for event in stream.events():
            msg = event.message
            started = time.perf_counter()
            channel = msg.topic.rsplit(".", 1)[-1]
            metrics.INGESTED.labels(channel).inc()
            refused = refused_unread(msg, time.time())
            if refused:
                topic, key, record = dead_letter(msg, *refused)
                await send(topic, record, key=key)
                continue
            result = route_record(
                msg.value or b"", msg.topic, store.get, msg.timestamp, time.time(), skew
            )
            if isinstance(result, Rejected):
                topic, key, record = dead_letter(msg, result.reason, result.detail)
                await send(topic, record, key=key)
                continue
            explained = result.explanation
            metrics.RULE_EVALUATIONS.inc(explained.get("evaluated", 0))
            for matched in explained.get("matched", ()):
                metrics.RULE_MATCHES.labels(matched).inc()
            if explained.get("outcome") == "default":
                metrics.RULE_MATCHES.labels(result.rule).inc()
            if result.department:
                metrics.ROUTED.labels(result.department).inc()
            else:
                metrics.RULE_UNROUTABLE.labels(explained.get("outcome", "no_match")).inc()
            await send(topics.ROUTED, encode(result), key=result.tenant.encode())
            metrics.STAGE_SECONDS.labels("rules").observe(time.perf_counter() - started)

    @app.agent(agent_events)
    async def agent_event_relay(stream: Any) -> None:
        """Forward agent events, undecoded, to the partition of the same number.

        Records the assignment stage must refuse anyway and that could not even be
        forwarded (too large for the producer) are dead-lettered here."""
        send = direct_producer(app).send
        async for event in stream.events():
            msg = event.message
            refused = refused_unread(msg, time.time())
            if refused:
                topic, key, record = dead_letter(msg, *refused)
                await send(topic, record, key=key)
                continue
            await send(
                topics.ROUTED,
                msg.value,
                key=msg.key,
                partition=msg.partition,
                headers=[
                    ("deskroute-relayed-from", f"{msg.topic}:{msg.partition}:{msg.offset}".encode())
                ],
            )

    Outputs = list[tuple[str, bytes | None, bytes]]

    def decide(msg: Any, now: float, wall: float) -> tuple[Outputs, Transition | None, Any]:
        """Decode one assignment-stage record and run the core: (outputs, rows to
        write, the decoded event or None)."""
        refused = refused_unread(msg, wall)
        if refused:
            return [dead_letter(msg, *refused)], None, None
        try:
            ev: Any = decode_as(AssignmentInput, msg.value or b"")  # type: ignore[arg-type]
        except DecodeError as exc:
            return [dead_letter(msg, exc.reason, exc.detail)], None, None
        ahead = future_timestamp(msg.timestamp, ev, wall, skew)
        if ahead:
            return [dead_letter(msg, "future_timestamp", ahead)], None, ev
        config = store.get(ev.tenant)
        if config is None:
            return (
                [dead_letter(msg, "unknown_tenant", f"tenant {ev.tenant!r} has no config")],
                None,
                ev,
            )
        if home(ev.tenant) != msg.partition:
            # A tenant's state lives on one partition; a record elsewhere was produced
            # with another partitioner and would split that state.
            return (
                [
                    dead_letter(
                        msg,
                        "misrouted_key",
                        f"tenant {ev.tenant!r} belongs to partition {home(ev.tenant)}, got {msg.partition}"
                        " (produce with Kafka's default murmur2 partitioner, key = tenant)",
                    )
                ],
                None,
                ev,
            )
        try:
            stage, t = run_core(view, config, ev, now)
        except Exception as exc:  # a defect in the core must not stop the partition
            log.exception("core failed on a record; dead-lettered")
            return [dead_letter(msg, "internal_error", f"{type(exc).__name__}: {exc}")], None, ev
        if t.duplicate:
            metrics.DUPLICATES.labels(stage).inc()
            return [], None, ev
        if t.rejected:
            return [dead_letter(msg, "rejected", t.rejected)], None, ev
        if stage == "agent_events":
            metrics.AGENT_EVENTS.labels(type(ev).__name__).inc()
            if t.noop:
                metrics.NOOP_EVENTS.labels(t.noop).inc()
        outputs: list[tuple[str, bytes | None, bytes]] = []
        for e in t.emitted:
            outputs.append((OUTPUT_TOPIC[type(e)], e.tenant.encode(), encode(e)))
            count_outcome(e)
        return outputs, t, ev

    def expire(tenant: str, cutoff: float) -> list[tuple[str, Any]]:
        """Deletions of ``tenant``'s rows whose retention counts from before ``cutoff``."""
        keys = state.expired(tenant, cutoff)
        for key in keys:
            metrics.STATE_ROWS_EXPIRED.labels("ticket" if key[:1] == TICKET else "seen").inc()
        return [(key, None) for key in keys]

    @dataclass
    class StageLoop:
        #: How the stage acknowledges an event (its stream's ``ack``) once it runs.
        ack: Callable[[Any], Awaitable[Any]] | None = None

        async def close(self) -> None:
            """Close the open batch, if any. Safe at any moment: an event's rows, marker
            and acknowledgement join a batch in one step (:meth:`AtomicTable.stage`)."""
            if self.ack is not None and state.batch_size()[0]:
                await state.close_batch(self.ack)

    loop = StageLoop()
    # Before Faust waits for every event to be acknowledged (a rebalance, a shutdown),
    # the open batch is closed: its events are acknowledged only then.
    app.deskroute_before_wait_empty = loop.close

    #: A batch of the assignment stage closes after this many events or output bytes
    #: (its marker lists every output), or as soon as no record waits to be read.
    batch_events, batch_bytes = 500, 256 * 1024

    @app.agent(assign_in)
    async def assignment_stage(stream: Any) -> None:
        await store.ready.wait()
        # Events are acknowledged when their batch's records were handed to the producer.
        stream.enable_acks = False
        ack = loop.ack = stream.ack
        queue = stream.channel.queue
        send = direct_producer(app).send
        observe = metrics.STAGE_SECONDS.labels("assignment").observe
        get = state.get_fast
        kinds = (
            prefixes["agents"],
            prefixes["departments"],
            prefixes["tickets"],
            prefixes["seen"],
        )
        async for event in stream.events():
            msg = event.message
            started = time.perf_counter()
            mkey = marker_key(msg.partition)
            marker = get(mkey) or Marker()
            if marker.applied(msg.topic, msg.offset):
                # Read again after a restart; its rows and outputs are already recorded.
                metrics.REPLAYED.inc()
                state.hold(event)
            else:
                wall = time.time()
                # A record stamped too far ahead is refused (decide) and leaves the clock.
                now = marker.now(msg.timestamp) if msg.timestamp <= wall + skew else marker.clock
                outputs, t, ev = decide(msg, now, wall)
                for topic, key, value in outputs:
                    await send(topic, value, key=key)
                rows: list[tuple[str, Any]] = []
                if t is not None:
                    changes: tuple[dict[str, Any], ...] = (
                        t.agents,
                        t.departments,
                        t.tickets,
                        t.seen,
                    )
                    for prefix, changed in zip(kinds, changes, strict=True):
                        if changed:
                            rows += [(prefix + k, v) for k, v in changed.items()]
                if t is not None and isinstance(ev, ClockTicked):
                    # After the core's transition, within the tick's own event: rows whose
                    # retention ran out leave the table (tombstones in the changelog).
                    rows += expire(ev.tenant, ev.at - retention)
                # The event is complete: its marker closes it in memory, and the
                # batch's marker (after the batch's rows) in the changelog.
                size = sum(len(o[2]) for o in outputs)
                if size and state.batch_size()[1] + size > batch_bytes:
                    # The batch's marker holds all its outputs and must stay one record
                    # under the broker's limit: a large output (a dead letter holding
                    # up to 700,000 bytes of its original) starts a batch of its own.
                    await state.close_batch(ack)
                state.stage(
                    msg.partition,
                    rows,
                    marker.after(msg.topic, msg.offset, now, ()),
                    outputs,
                    event,
                )
                if t is not None:
                    # Normally the rows the view's index followed as they were decided;
                    # a read in between (a metrics scrape while outputs were sent) may
                    # have put it back to the rows as they were then.
                    view.apply(t)
                observe(time.perf_counter() - started)
            events, size = state.batch_size()
            if queue.empty() or events >= batch_events or size >= batch_bytes:
                await state.close_batch(ack)

    @app.task  # type: ignore[untyped-decorator]
    async def close_idle_batch() -> None:
        """Close a batch the stage left open while it waits (a rebalance cleared its
        queue, say): its events' offsets can be committed only once it is closed."""
        while not app.should_stop:
            await asyncio.sleep(0.05)
            await loop.close()

    def held_tenants() -> list[tuple[str, Any]]:
        """(tenant, config) of the tenants whose partition this worker holds."""
        owned = owned_partitions()
        return [(t, cfg) for t, cfg in list(store.configs.items()) if home(t) in owned]

    def snapshot(now: float) -> list[tuple[Any, ...]]:
        """Queue and agent gauges for the tenants whose partition this worker holds."""
        rows: list[tuple[Any, ...]] = []
        for tenant, cfg in held_tenants():
            lines = view.waiting(tenant)
            for dept_id, members in cfg.department_agents.items():
                for channel in ("email", "social", "chat", "call"):
                    queue = lines.get(dept_id, channel)
                    oldest = max(0.0, now - queue.oldest()) if queue else 0.0
                    free = held = cap = 0
                    for agent_id in members:
                        a = view.agents.get(state_key(tenant, agent_id)) or AgentState(agent_id)
                        c = a.capacity_override.get(
                            channel, cfg.agents[agent_id].capacity.get(channel, 0)
                        )
                        if a.presence == "online" and c > 0:
                            cap += c
                            held += a.load(channel)
                            free += a.load(channel) < c
                    rows.append((tenant, dept_id, channel, len(queue), oldest, free, held, cap))
        return rows

    def agent_snapshot(now: float) -> list[tuple[Any, ...]]:
        """Per-agent rows (tenant, agent, channel, online, open work, capacity); opt-in."""
        rows: list[tuple[Any, ...]] = []
        for tenant, cfg in held_tenants():
            for agent_id, agent_cfg in cfg.agents.items():
                a = view.agents.get(state_key(tenant, agent_id)) or AgentState(agent_id)
                for channel in ("email", "social", "chat", "call"):
                    c = a.capacity_override.get(channel, agent_cfg.capacity.get(channel, 0))
                    online = int(a.presence == "online" and c > 0)
                    rows.append((tenant, agent_id, channel, online, a.load(channel), c))
        return rows

    metrics.REGISTRY.register(
        metrics.StateCollector(
            snapshot,
            parse_sla(settings.queue_sla),
            agent_snapshot if settings.per_agent_metrics else None,
        )
    )
    metrics.REGISTRY.register(metrics.LagCollector(lambda: consumer_offsets(app)))
    metrics.REGISTRY.register(metrics.ReadyCollector(lambda: readiness_checks(app, store)))

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(
            generate_latest(metrics.REGISTRY), content_type="text/plain; version=0.0.4"
        )

    @app.page("/state/{tenant}")
    async def state_view(web: Any, request: Any, tenant: str) -> Any:
        """Live agents and queues of one tenant held by this worker, for people and tests."""
        cfg = store.get(tenant)
        if cfg is None:
            return web.json({"error": f"unknown tenant {tenant!r}"}, status=404)
        if home(tenant) not in owned_partitions():
            return web.json({"error": f"tenant {tenant!r} is served by another worker"}, status=421)
        agents = {}
        for agent_id in cfg.agents:
            a = view.agents.get(state_key(tenant, agent_id)) or AgentState(agent_id)
            agents[agent_id] = {
                "presence": a.presence,
                "open_work": {ch: list(ids) for ch, ids in sorted(a.open_work.items()) if ids},
                "capacity_override": a.capacity_override,
            }
        queues = {}
        lines = view.waiting(tenant)
        for dept_id in cfg.departments:
            d = view.departments.get(state_key(tenant, dept_id)) or DepartmentState()
            waiting = sorted(lines.channels(dept_id).items())
            queues[dept_id] = {
                "queues": {ch: [e.ticket_id for e in q] for ch, q in waiting if q},
                "cursors": d.cursors,
            }
        applied = state.get(marker_key(home(tenant))) or Marker()
        return web.json(
            {
                "tenant": tenant,
                "partition": home(tenant),
                "applied_offsets": applied.offsets,
                "config_version": cfg.version,
                "agents": agents,
                "departments": queues,
            }
        )

    @app.page("/health/live")
    async def live_view(web: Any, request: Any) -> Any:
        return web.json({"status": "live"})

    @app.page("/health/ready")
    async def ready_view(web: Any, request: Any) -> Any:
        checks = readiness_checks(app, store)
        ready = all(checks.values())
        return web.json({"ready": ready, "checks": checks}, status=200 if ready else 503)

    return app
