"""``deskroute run``: a whole help desk on one machine, routing shown live.

Starts the embedded broker (unless ``KAFKA_BOOTSTRAP`` points at a cluster),
creates the topics, publishes the sample tenant, starts a worker process and
plays sample traffic: customers writing on every channel, agents coming online,
taking breaks and finishing work. It reads the outcome topics to draw the live
view and to end with a summary that accounts for every event it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer

from schemas.codec import DecodeError, decode, encode
from schemas.config_file import ConfigError, load_config_file
from schemas.events import (
    AgentPresenceChanged,
    Customer,
    EventDeadLettered,
    InboundReceived,
    OfferAccepted,
    OfferDeclined,
    OfferMissed,
    Presence,
    TicketAssigned,
    TicketEscalated,
    TicketOffered,
    TicketQueued,
    TicketUnroutable,
    WorkFinished,
)
from schemas.tenant_config import TenantConfig
from streams import topics
from streams.admin import create_topics, producer, publish_config, reader, wait_for_broker
from streams.broker import EmbeddedBroker
from streams.processes import spawn_worker, stop_process
from streams.settings import Settings

SOURCES: dict[str, list[str]] = {
    "email": [
        "email:help@demo.example",
        "email:billing@demo.example",
        "email:tech@demo.example",
        "email:invoices@demo.example",
    ],
    "social": ["facebook", "instagram", "twitter", "viber"],
    "chat": ["chat:support", "chat:pricing"],
    "call": ["call:+15550100", "call:+15550199", "call:+15550123"],
}
CHANNEL_MIX = {"email": 0.35, "social": 0.25, "chat": 0.25, "call": 0.15}
#: Mean handling time per channel in the demo (seconds): short, so the view moves.
HANDLE_S = {"email": 6.0, "social": 4.0, "chat": 8.0, "call": 5.0}
#: Share of inbound records that are deliberately malformed, to show dead-lettering.
BAD_SHARE = 0.01
#: How the demo's agents answer a ringing chat or call: most accept within a
#: couple of seconds, a few decline, a few let it ring out (it moves on).
ANSWER_MIX = {"accept": 0.9, "decline": 0.05, "ignore": 0.05}


@dataclasses.dataclass
class Tally:
    """What the outcome topics said, per ticket: the latest outcome wins."""

    sent: int = 0
    sent_bad: int = 0
    outcome: dict[str, str] = dataclasses.field(default_factory=dict)
    deadlettered: int = 0
    queue: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    where_queued: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    load: Counter[str] = dataclasses.field(default_factory=Counter)
    presence: dict[str, str] = dataclasses.field(default_factory=dict)
    assigned_by_channel: Counter[str] = dataclasses.field(default_factory=Counter)
    offers: Counter[str] = dataclasses.field(default_factory=Counter)
    escalated: int = 0
    assigned_times: deque[float] = dataclasses.field(default_factory=lambda: deque(maxlen=5000))
    latencies: deque[float] = dataclasses.field(default_factory=lambda: deque(maxlen=2000))

    def counts(self) -> Counter[str]:
        c = Counter(self.outcome.values())
        c["deadlettered"] = self.deadlettered
        return c


class Demo:
    def __init__(self, settings: Settings, config: TenantConfig, rate: float, seed: int) -> None:
        self.settings = settings
        self.config = config
        self.rate = rate
        self.rng = random.Random(seed)
        self.run_id = f"{seed}-{int(time.time())}"
        self.tally = Tally()
        self.stop = asyncio.Event()
        self.producer = producer(settings)
        self.finish_tasks: set[asyncio.Task[None]] = set()

    # -- traffic -------------------------------------------------------------
    async def send(self, topic: str, value: bytes) -> None:
        await self.producer.send(topic, value, key=self.config.tenant.encode())

    async def presence(self, agent_id: str, presence: Presence) -> None:
        self.tally.presence[agent_id] = presence
        ev = AgentPresenceChanged(
            f"{self.run_id}-p-{agent_id}-{time.monotonic_ns()}",
            self.config.tenant,
            agent_id,
            presence,
            time.time(),
        )
        await self.send(topics.AGENT_EVENTS, encode(ev))

    async def agents_life(self) -> None:
        """Agents log in over the first seconds, then now and then take a short break."""
        agents = list(self.config.agents)
        for agent_id in agents:
            self.tally.presence[agent_id] = "offline"
        for agent_id in agents:
            if self.stop.is_set():
                return
            await self.presence(agent_id, "online")
            await asyncio.sleep(0.3)
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.uniform(2.0, 5.0))
            agent_id = self.rng.choice(agents)
            if self.tally.presence.get(agent_id) == "online":
                await self.presence(agent_id, self.rng.choice(["break", "away"]))
                self.later(self.rng.uniform(4.0, 10.0), self.presence(agent_id, "online"))

    def later(self, delay: float, coro: Coroutine[Any, Any, None]) -> None:
        async def run() -> None:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                coro.close()
                raise
            await coro

        task = asyncio.ensure_future(run())
        self.finish_tasks.add(task)
        task.add_done_callback(self.finish_tasks.discard)

    async def customers(self) -> None:
        """Poisson arrivals across the four channels, with a pinch of bad input."""
        n = 0
        channels, weights = zip(*CHANNEL_MIX.items(), strict=True)
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.expovariate(self.rate))
            if self.stop.is_set():
                return
            n += 1
            if self.rng.random() < BAD_SHARE:
                self.tally.sent_bad += 1
                bad = self.rng.choice(
                    [b"not json", b'{"type":"InboundReceived","v":9}', b"\xff\xfe"]
                )
                await self.send(topics.INBOUND[self.rng.choice(channels)], bad)
                continue
            channel = self.rng.choices(channels, weights)[0]
            ev = InboundReceived(
                event_id=f"{self.run_id}-{n}",
                tenant=self.config.tenant,
                channel=channel,
                source=self.rng.choice(SOURCES[channel]),
                conversation_id=f"conv-{self.rng.randrange(10_000)}",
                customer=Customer(f"cust-{self.rng.randrange(5_000)}"),
                received_at=time.time(),
                subject="Question about my order" if channel == "email" else "",
                text="Hello, I need help.",
                priority=self.rng.choices([1, 2, 3, 4], [0.05, 0.15, 0.7, 0.1])[0],
            )
            self.tally.sent += 1
            await self.send(topics.INBOUND[channel], encode(ev))

    def answer_later(self, o: TicketOffered) -> None:
        """One of the ringing agents answers (ring-all: whoever is quickest)."""
        answer = self.rng.choices(list(ANSWER_MIX), list(ANSWER_MIX.values()))[0]
        if answer == "ignore":
            return
        agent_id = self.rng.choice(o.agent_ids)
        kind = OfferAccepted if answer == "accept" else OfferDeclined
        ev = kind(
            f"{self.run_id}-{answer}-{o.ticket_id}-{agent_id}-{o.offered_at}",
            o.tenant,
            agent_id,
            o.ticket_id,
            time.time(),
        )
        self.later(self.rng.uniform(0.3, 2.5), self.send(topics.AGENT_EVENTS, encode(ev)))

    def finish_later(self, a: TicketAssigned) -> None:
        async def finish() -> None:
            await asyncio.sleep(self.rng.expovariate(1.0 / HANDLE_S[a.channel]))
            ev = WorkFinished(
                f"{self.run_id}-f-{a.ticket_id}", a.tenant, a.agent_id, a.ticket_id, time.time()
            )
            self.tally.load[a.agent_id] -= 1
            self.tally.outcome[a.ticket_id] = "finished"
            await self.send(topics.AGENT_EVENTS, encode(ev))

        task = asyncio.ensure_future(finish())
        self.finish_tasks.add(task)
        task.add_done_callback(self.finish_tasks.discard)

    # -- outcomes ------------------------------------------------------------
    async def watch_outcomes(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    self.observe(r.value, r.timestamp / 1000.0)

    def observe(self, raw: bytes, ts: float) -> None:
        try:
            ev = decode(raw)
        except DecodeError:
            return
        t = self.tally
        if isinstance(ev, TicketAssigned):
            if t.outcome.get(ev.ticket_id) in ("assigned", "finished"):
                return  # a repeated output after a worker restart
            if ev.ticket_id in t.where_queued:
                t.queue[t.where_queued.pop(ev.ticket_id)] -= 1
            t.outcome[ev.ticket_id] = "assigned"
            t.assigned_by_channel[ev.channel] += 1
            t.load[ev.agent_id] += 1
            t.assigned_times.append(time.monotonic())
            if ev.waited_s == 0 and "offer" not in ev.explanation:
                t.latencies.append(max(0.0, ts - ev.ingested_at))
            if not self.stop.is_set():
                self.finish_later(ev)
        elif isinstance(ev, TicketQueued):
            if ev.ticket_id not in t.outcome:
                t.outcome[ev.ticket_id] = "queued"
                t.where_queued[ev.ticket_id] = (ev.department, ev.channel)
                t.queue[(ev.department, ev.channel)] += 1
        elif isinstance(ev, TicketOffered):
            first = ev.ticket_id not in t.outcome
            if t.outcome.get(ev.ticket_id) in ("assigned", "finished"):
                return
            if ev.ticket_id in t.where_queued:
                t.queue[t.where_queued.pop(ev.ticket_id)] -= 1
            t.outcome[ev.ticket_id] = "offered"
            t.offers["offered"] += 1
            if first:
                t.latencies.append(max(0.0, ts - ev.ingested_at))
            if not self.stop.is_set():
                self.answer_later(ev)
        elif isinstance(ev, OfferMissed):
            t.offers[ev.reason] += 1
            if t.outcome.get(ev.ticket_id) == "offered":
                t.outcome[ev.ticket_id] = "queued"
                t.where_queued[ev.ticket_id] = (ev.department, ev.channel)
                t.queue[(ev.department, ev.channel)] += 1
        elif isinstance(ev, TicketEscalated):
            t.escalated += 1
            if t.where_queued.get(ev.ticket_id) == (ev.from_department, ev.channel):
                t.queue[(ev.from_department, ev.channel)] -= 1
                t.where_queued[ev.ticket_id] = (ev.to_department, ev.channel)
                t.queue[(ev.to_department, ev.channel)] += 1
        elif isinstance(ev, TicketUnroutable):
            t.outcome[ev.ticket_id] = "unroutable"
        elif isinstance(ev, EventDeadLettered):
            t.deadlettered += 1

    # -- view ----------------------------------------------------------------
    def render(self, elapsed: float) -> str:
        t = self.tally
        now = time.monotonic()
        per_s = sum(1 for x in t.assigned_times if now - x <= 5.0) / 5.0
        c = t.counts()
        lines = [
            f"deskroute demo — tenant {self.config.tenant} — {elapsed:5.0f}s — "
            f"{per_s:5.1f} assignments/s — ingest→assign {latency_text(t.latencies)}",
            f"sent {t.sent} (+{t.sent_bad} malformed)   assigned {c['assigned'] + c['finished']}   "
            f"ringing {c['offered']}   waiting {c['queued']}   unroutable {c['unroutable']}   "
            f"dead-lettered {c['deadlettered']}",
            f"offers made {t.offers['offered']}   declined {t.offers['declined']}   "
            f"timed out {t.offers['timeout']}   escalated {t.escalated}",
            "",
            "queue depth      " + "".join(f"{ch:>8}" for ch in SOURCES),
        ]
        for dept in self.config.departments.values():
            row = "".join(f"{t.queue[(dept.id, ch)]:>8}" for ch in SOURCES)
            lines.append(f"  {dept.name[:15]:<15}{row}")
        lines.append("")
        lines.append("agents (open work)")
        agents = list(self.config.agents.values())
        cells = [f"{a.id:<7}{t.presence.get(a.id, '?'):<8}{t.load[a.id]:>3}" for a in agents]
        for i in range(0, len(cells), 3):
            lines.append("  " + "    ".join(cells[i : i + 3]))
        return "\n".join(lines)


def summary_line(tally: Tally, elapsed: float) -> str:
    c = tally.counts()
    assigned = c["assigned"] + c["finished"]
    accounted = assigned + c["queued"] + c["offered"] + c["unroutable"]
    unaccounted = tally.sent - accounted
    return (
        f"summary: sent={tally.sent + tally.sent_bad} tickets={tally.sent} assigned={assigned} "
        f"queued={c['queued']} ringing={c['offered']} unroutable={c['unroutable']} "
        f"deadlettered={c['deadlettered']} "
        f"unaccounted={unaccounted} duration={elapsed:.1f}s\n"
        "assigned by channel: "
        + " ".join(f"{ch}={tally.assigned_by_channel[ch]}" for ch in SOURCES)
        + f"\noffers: made={tally.offers['offered']} declined={tally.offers['declined']} "
        f"timed_out={tally.offers['timeout']} escalated={tally.escalated}"
        + "\ningest→assign or first offer (without waiting): "
        + latency_text(tally.latencies)
    )


def latency_text(latencies: Iterable[float]) -> str:
    lat = sorted(latencies)
    if not lat:
        return "no samples"
    p50 = lat[len(lat) // 2] * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms over the last {len(lat)}"


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return str(resp.read().decode("utf-8"))


async def _wait_ready(url: str, worker: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited with code {worker.returncode}")
        with contextlib.suppress(OSError):
            await asyncio.to_thread(_scrape, url)
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"worker not ready at {url} within {timeout}s")


async def _run(
    settings: Settings, config: TenantConfig, duration: float, rate: float, seed: int, out: TextIO
) -> int:
    await wait_for_broker(settings)
    await create_topics(settings)
    await publish_config(settings, config)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DESKROUTE_PRODUCER_MAX_BATCH_BYTES": str(settings.producer_max_batch_bytes),
        "DESKROUTE_WEB_PORT": str(settings.web_port),
    }
    log_path = Path(".deskroute") / "worker.log"
    worker = spawn_worker(env, log_path)
    demo = Demo(settings, config, rate, seed)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, demo.stop.set)
    base = f"http://{settings.web_host}:{settings.web_port}"
    consumer = reader(
        settings,
        topics.ASSIGNED,
        topics.QUEUED,
        topics.UNROUTABLE,
        topics.DEADLETTER,
        topics.OFFERS,
        topics.ESCALATED,
        auto_offset_reset="latest",
    )
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    metrics_note = "not scraped"
    try:
        print(
            f"broker {settings.kafka_bootstrap}; worker log {log_path}; metrics {base}/metrics",
            file=out,
            flush=True,
        )
        await _wait_ready(f"{base}/health/ready", worker, 60.0)
        await consumer.start()
        await consumer.seek_to_end()
        await demo.producer.start()
        tasks = [
            asyncio.ensure_future(c)
            for c in (demo.watch_outcomes(consumer), demo.agents_life(), demo.customers())
        ]
        tty = out.isatty()
        last_line = 0.0
        while not demo.stop.is_set():
            elapsed = time.monotonic() - started
            if duration and elapsed >= duration:
                break
            if worker.poll() is not None:
                print(f"worker exited with code {worker.returncode}; see {log_path}", file=out)
                return 1
            if tty:
                out.write("\x1b[H\x1b[J" + demo.render(elapsed) + "\n\n(Ctrl-C to stop)\n")
                out.flush()
            elif elapsed - last_line >= 5.0:
                last_line = elapsed
                out.write(demo.render(elapsed).split("\n")[1] + "\n")
                out.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(demo.stop.wait(), 1.0)
        demo.stop.set()
        # Let in-flight events reach an outcome before counting.
        await demo.producer.flush()
        settle = time.monotonic() + 10.0
        while time.monotonic() < settle:
            c = demo.tally.counts()
            accounted = c["assigned"] + c["finished"] + c["queued"] + c["unroutable"]
            if accounted >= demo.tally.sent and c["deadlettered"] >= demo.tally.sent_bad:
                break
            await asyncio.sleep(0.2)
        try:
            text = await asyncio.to_thread(_scrape, f"{base}/metrics")
            n = sum(1 for line in text.splitlines() if line.startswith("deskroute_"))
            metrics_note = f"{base}/metrics answered with {n} deskroute_ samples"
        except OSError as exc:
            metrics_note = f"{base}/metrics did not answer: {exc}"
        if out.isatty():
            out.write("\x1b[H\x1b[J" + demo.render(time.monotonic() - started) + "\n")
    finally:
        for task in (*tasks, *demo.finish_tasks):
            task.cancel()
        await asyncio.gather(*tasks, *demo.finish_tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await demo.producer.stop()
        with contextlib.suppress(Exception):
            await consumer.stop()
        await asyncio.to_thread(stop_process, worker)
    print(f"metrics: {metrics_note}", file=out)
    print(summary_line(demo.tally, time.monotonic() - started), file=out, flush=True)
    return 0


def run_demo(settings: Settings, tenant_file: str, duration: float, rate: float, seed: int) -> int:
    try:
        config = load_config_file(tenant_file, version=int(time.time()))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    broker: EmbeddedBroker | None = None
    if not settings.kafka_bootstrap:
        Path(".deskroute").mkdir(exist_ok=True)
        broker = EmbeddedBroker(log_file=Path(".deskroute") / "broker.log").start()
        settings = dataclasses.replace(settings, kafka_bootstrap=broker.bootstrap)
    try:
        return asyncio.run(_run(settings, config, duration, rate, seed, sys.stdout))
    finally:
        if broker is not None:
            broker.stop()
