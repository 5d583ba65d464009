"""``make soak``: one worker under steady mixed traffic for minutes, memory sampled.

A fresh embedded broker, four tenants (one per partition) and one worker; then
``SOAK_SECONDS`` (default 300) of traffic at ``SOAK_RATE`` events per second
(default 100, which one worker sustains on a shared 2-core machine with room to
spare: a soak measures growth, not a backlog): tickets on every channel, agents who pick up the chats and calls
that ring for them and finish each piece of work a moment after they get it, so
open work and queues stay bounded and any growth is the worker's own (dedupe
windows, finished tickets, caches). Every
``SOAK_SAMPLE_SECONDS`` (default 5) the worker's and the broker's resident memory
(VmRSS) is sampled and printed; at the end one JSON line compares the median RSS
of the first minute with that of the last minute (growth as a fraction).

The embedded broker keeps every record in memory, so its RSS grows with the
records written: it is reported for scale, the worker's is the figure that must
stay flat.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.codec import DecodeError, decode, encode
from schemas.config_file import parse_config_text
from schemas.events import (
    CHANNELS,
    AgentPresenceChanged,
    Channel,
    Customer,
    InboundReceived,
    OfferAccepted,
    TicketAssigned,
    TicketOffered,
    WorkFinished,
)
from streams import topics
from streams.admin import create_topics, producer, publish_config, reader, wait_for_broker
from streams.app import partition_for
from streams.broker import EmbeddedBroker, free_port
from streams.processes import ROOT, spawn_worker, stop_process
from streams.settings import Settings

LOG_DIR = ROOT / ".deskroute" / "soak"
PARTITIONS = 4
AGENTS = 12
#: Tickets' share of the events: each is finished later, and half ring and are accepted.
TICKET_SHARE = 0.4
TENANT_CONFIG = """
tenant: {tenant}
default_department: support
departments:
  - {{id: support, strategy: least-load}}
  - {{id: sales, strategy: round-robin}}
agents:
{agents}
rules:
  - {{name: sales-calls, department: sales, when: {{channel: call}}}}
  - {{name: sales-social, department: sales, when: {{channel: social}}}}
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: not a number") from None
    if value <= 0:
        raise SystemExit(f"{name}={raw!r}: must be positive")
    return value


def rss_mb(pid: int) -> float:
    """Resident memory of a live process in MiB (VmRSS), 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def tenants(partitions: int) -> list[str]:
    """One tenant per partition, so the broker's load is spread like production's."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        name = f"soak{n}"
        found.setdefault(partition_for(name.encode(), partitions), name)
        n += 1
    return [found[p] for p in sorted(found)]


def tenant_yaml(tenant: str) -> str:
    lines = []
    for i in range(AGENTS):
        depts = "[support]" if i % 3 == 0 else "[sales]" if i % 3 == 1 else "[support, sales]"
        lines.append(
            f"  - {{id: a{i}, departments: {depts},"
            " capacity: {email: 8, social: 6, chat: 4, call: 2}}"
        )
    return TENANT_CONFIG.format(tenant=tenant, agents="\n".join(lines))


@dataclass
class Counts:
    tickets: int = 0
    finished: int = 0
    accepted: int = 0
    presence: int = 0
    assigned: int = 0
    failed_sends: int = 0
    samples: list[tuple[float, float, float]] = field(default_factory=list)


class Soak:
    def __init__(self, settings: Settings, names: Sequence[str], rate: float, seed: int) -> None:
        self.settings = settings
        self.tenants = list(names)
        self.rate = rate
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.producer: AIOKafkaProducer = producer(settings)
        self.assigned: AIOKafkaConsumer = reader(
            settings, topics.ASSIGNED, topics.OFFERS, auto_offset_reset="latest"
        )
        self._due: list[tuple[float, TicketAssigned]] = []
        self._ringing: list[tuple[float, TicketOffered]] = []
        self._answered: set[tuple[str, float]] = set()
        self._finished: set[str] = set()
        self._pending: list[asyncio.Future[object]] = []
        self._n = 0

    async def start(self) -> None:
        await self.producer.start()
        await self.assigned.start()
        for tenant in self.tenants:
            for i in range(AGENTS):
                await self._send(
                    topics.AGENT_EVENTS,
                    tenant,
                    AgentPresenceChanged(
                        f"{tenant}-on-a{i}", tenant, f"a{i}", "online", time.time()
                    ),
                )
                self.counts.presence += 1

    async def stop(self) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)
        await self.assigned.stop()
        await self.producer.stop()

    async def _send(self, topic: str, tenant: str, event: object) -> None:
        self._pending.append(await self.producer.send(topic, encode(event), key=tenant.encode()))

    async def watch_assignments(self) -> None:
        """Agents finish each assigned ticket after a short handling time."""
        while True:
            batches = await self.assigned.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batches.values():
                for r in records:
                    try:
                        event = decode(r.value)
                    except DecodeError:
                        continue
                    if isinstance(event, TicketAssigned) and event.ticket_id not in self._finished:
                        self._finished.add(event.ticket_id)
                        self.counts.assigned += 1
                        self._due.append((now + self.rng.uniform(0.2, 1.0), event))
                    elif isinstance(event, TicketOffered):
                        # Chats and calls ring; the agent picks up a moment later.
                        key = (event.ticket_id, event.offered_at)
                        if key not in self._answered:
                            self._answered.add(key)
                            self._ringing.append((now + self.rng.uniform(0.1, 0.5), event))

    async def traffic(self, seconds: float) -> None:
        """Tickets at 40 % of the rate; finished work (as many) and accepted offers (chats
        and calls, half the tickets) make up the rest."""
        tick = 0.05
        budget = 0.0
        started = time.monotonic()
        next_tick = started
        while time.monotonic() - started < seconds:
            now = time.monotonic()
            budget += self.rate * TICKET_SHARE * tick
            while budget >= 1:
                budget -= 1
                await self._ticket()
            due = [d for d in self._due if d[0] <= now]
            if due:
                self._due = [d for d in self._due if d[0] > now]
                for _, a in due:
                    await self._send(
                        topics.AGENT_EVENTS,
                        a.tenant,
                        WorkFinished(
                            f"fin-{a.ticket_id}", a.tenant, a.agent_id, a.ticket_id, time.time()
                        ),
                    )
                    self.counts.finished += 1
            ringing = [r for r in self._ringing if r[0] <= now]
            if ringing:
                self._ringing = [r for r in self._ringing if r[0] > now]
                for _, o in ringing:
                    self._n += 1
                    await self._send(
                        topics.AGENT_EVENTS,
                        o.tenant,
                        OfferAccepted(
                            f"acc-{self._n}", o.tenant, o.agent_ids[0], o.ticket_id, time.time()
                        ),
                    )
                    self.counts.accepted += 1
            self._settle()
            next_tick += tick
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    def _settle(self) -> None:
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        self.counts.failed_sends += sum(1 for f in done if f.exception() is not None)

    async def _ticket(self) -> None:
        self._n += 1
        tenant = self.tenants[self._n % len(self.tenants)]
        channel: Channel = self.rng.choice(CHANNELS)
        await self._send(
            topics.INBOUND[channel],
            tenant,
            InboundReceived(
                f"{tenant}-s{self._n}",
                tenant,
                channel,
                f"src-{channel}",
                f"conv-{self._n}",
                Customer(f"cust-{self._n % 5000}", "Ada Lovelace", "ada@example.org"),
                time.time(),
                subject="Where is my parcel?" if channel == "email" else "",
                text="Hello, I ordered last week and the tracking page has not moved since. "
                * self.rng.randint(1, 6),
                priority=self.rng.randint(1, 5),
            ),
        )
        self.counts.tickets += 1


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def scrape(url: str) -> dict[str, float]:
    """Queue depth and consumer lag summed from the worker's /metrics (-1 if unreadable)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {"queued": -1.0, "lag": -1.0}
    totals = {"deskroute_queue_depth": 0.0, "deskroute_consumer_lag": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return {"queued": totals["deskroute_queue_depth"], "lag": totals["deskroute_consumer_lag"]}


def median_between(
    samples: list[tuple[float, float, float]], lo: float, hi: float, i: int
) -> float:
    values = [s[i] for s in samples if lo <= s[0] <= hi]
    return round(statistics.median(values), 1) if values else 0.0


async def soak(seconds: float, rate: float, every: float) -> dict[str, object]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    broker_log = LOG_DIR / "broker.log"
    worker_log = LOG_DIR / "worker.log"
    for f in (broker_log, worker_log):
        f.unlink(missing_ok=True)
    broker = EmbeddedBroker(log_file=broker_log).start()
    worker = None
    try:
        assert broker.proc is not None
        settings = Settings(kafka_bootstrap=broker.bootstrap, partitions=PARTITIONS)
        await wait_for_broker(settings)
        await create_topics(settings)
        names = tenants(PARTITIONS)
        for name in names:
            await publish_config(settings, parse_config_text(tenant_yaml(name), f"<{name}>", 1))
        port = free_port()
        data = LOG_DIR / "data"
        worker = spawn_worker(
            {
                **os.environ,
                "KAFKA_BOOTSTRAP": broker.bootstrap,
                "DESKROUTE_PARTITIONS": str(PARTITIONS),
                "DESKROUTE_WEB_PORT": str(port),
                "DESKROUTE_DATA_DIR": str(data),
            },
            worker_log,
        )
        deadline = time.monotonic() + 120
        while http_status(f"http://127.0.0.1:{port}/health/ready") != 200:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not become ready; see {worker_log}")
            await asyncio.sleep(0.2)
        say(
            f"soak: broker pid {broker.proc.pid}, worker pid {worker.pid}, tenants {names},"
            f" {rate:g} events/s for {seconds:g}s, RSS sampled every {every:g}s"
        )
        run = Soak(settings, names, rate, seed=1)
        await run.start()
        watcher = asyncio.ensure_future(run.watch_assignments())
        traffic = asyncio.ensure_future(run.traffic(seconds))
        started = time.monotonic()
        print(
            "t_s\tworker_rss_mb\tbroker_rss_mb\ttickets\tassigned\tfinished\tqueued\tlag",
            flush=True,
        )
        while not traffic.done():
            await asyncio.wait({traffic}, timeout=every)
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}; see {worker_log}")
            t = time.monotonic() - started
            sample = (round(t, 1), rss_mb(worker.pid), rss_mb(broker.proc.pid))
            run.counts.samples.append(sample)
            c = run.counts
            m = scrape(f"http://127.0.0.1:{port}/metrics")
            print(
                f"{sample[0]:.0f}\t{sample[1]:.1f}\t{sample[2]:.1f}\t{c.tickets}\t{c.assigned}"
                f"\t{c.finished}\t{m['queued']:.0f}\t{m['lag']:.0f}",
                flush=True,
            )
        await traffic
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await run.stop()
        elapsed = time.monotonic() - started
        c = run.counts
        samples = c.samples
        end = samples[-1][0] if samples else elapsed
        figures: dict[str, object] = {
            "soak_seconds": round(elapsed, 1),
            "soak_rate": rate,
            "events_sent": c.tickets + c.finished + c.accepted + c.presence,
            "events_per_s": round((c.tickets + c.finished + c.accepted) / elapsed, 1),
            "tickets": c.tickets,
            "assigned": c.assigned,
            "work_finished": c.finished,
            "offers_accepted": c.accepted,
            "failed_sends": c.failed_sends,
            "samples": len(samples),
        }
        for i, who in ((1, "worker"), (2, "broker")):
            first = median_between(samples, 0, 60, i)
            last = median_between(samples, end - 60, end, i)
            figures[f"{who}_rss_first_min_mb"] = first
            figures[f"{who}_rss_last_min_mb"] = last
            figures[f"{who}_rss_growth"] = round((last - first) / first, 4) if first else None
        return figures
    finally:
        if worker is not None:
            stop_process(worker, 20)
        broker.stop()


def main() -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    seconds = env_number("SOAK_SECONDS", 300)
    rate = env_number("SOAK_RATE", 100)
    every = env_number("SOAK_SAMPLE_SECONDS", 5)
    figures = asyncio.run(soak(seconds, rate, every))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
