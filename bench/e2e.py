"""deskroute end to end with one worker process, on a fresh embedded broker.

Two phases, each with a fresh broker and worker:

1. **Throughput.** Topics are created, the demo tenant's config is published,
   every agent is brought online with a capacity of 1,000,000 on each channel it
   is configured for (so tickets are assigned, not queued), and the worker is
   started; once ``/state/demo`` shows every agent online, N inbound events of all
   four channels (key ``b"demo"``) are written to the inbound topics in ordinary
   batches, and a plain aiokafka consumer counts the first outcome of each ticket
   on the assigned, queued, unroutable and offer topics (chats and calls are
   offered: the decision is the offer, ``TicketOffered``). Dead letters are counted too,
   so that a bad run ends instead of waiting for outcomes that never come; the
   run fails if no outcome arrives for :data:`STALL_S` seconds. As in a help
   desk, work does not pile up on the agents: the observer accepts every offer
   (``OfferAccepted``) and finishes every assignment it reads (``WorkFinished``,
   both on the agent events topic), so the worker applies two events per email or
   social ticket and three per chat or call (``e2e_finished``,
   ``e2e_offers_accepted``), and an agent's open work stays as small as the
   tickets in flight.
2. **Latency at half load.** On a new broker and worker, set up the same way
   (agents online, worker ready), new tickets are produced one by one, paced at
   half of ``e2e_eps``, for :data:`LATENCY_S` seconds (at least
   :data:`LATENCY_MIN_EVENTS`), the way a gateway writes them. Each decision's
   (assignment or offer) latency is its record timestamp minus ``ingested_at``
   (the inbound record's timestamp, set by this producer when it took the
   record): ``p50_ms`` and ``p99_ms``; ``p99_first_second_ms`` and
   ``p99_last_second_ms`` are the first and the last second's share of them,
   and ``latency_*_cores`` the CPU each process used meanwhile. Tickets that
   had to wait in a queue would measure the queue, not deskroute; there are
   none with these capacities. The phase used to follow the burst on the same
   broker; every fetch there also listed the burst's thousands of batches
   (:mod:`bench.common`), which doubled p50 and p99 (65 / 142 ms against 25 /
   53 ms at 373/s, one run each). ``BENCH_LATENCY_SAME_BROKER=1`` measures
   that way too (``*_same_broker``).

Clocks (all epoch seconds, ``time.time()`` in every process of one machine):

* ``e2e_eps``: N / (time the worker had caught up with every input, the agents'
  answers included - timestamp of the first decision): the rate it sustains.
* ``e2e_decision_eps``: (N - 1) / (timestamp of the N-th first decision -
  timestamp of the first), the agents' answers to them possibly still queued.
  Record timestamps are CreateTime, set by the worker's producer when it takes
  the record, so the observer's own fetch delays do not count.
* ``e2e_wall_eps``: the same span on the observer's wall clock (when it received
  the first and the N-th outcome); informative.
* ``e2e_startup_s``: from just before the worker process is spawned to the
  moment it is ready with every agent online (imports, group join, table
  recovery, config load, agent events applied).
* ``e2e_eps_first_half`` / ``e2e_eps_second_half``: the rate over the first and
  the second half of the outcomes (record timestamps): whether it holds up as
  state and the broker's logs grow.
* ``e2e_worker_cores`` / ``e2e_broker_cores`` / ``e2e_observer_cores``: CPU
  seconds each process used between the observer's first and N-th outcome,
  divided by that wall span (1.0 = one core busy throughout).
* ``e2e_loop_lags`` / ``e2e_loop_lags_over_100ms`` / ``e2e_loop_lags_over_1s``:
  the worker's 100 ms loop probes over the whole first phase, and how many woke
  that late (``deskroute_event_loop_lag_seconds``): the stages, the fetcher and
  the group's heartbeats share one loop.

``BENCH_PROFILE=1`` records the worker with py-spy during the throughput phase
(``.deskroute/bench/e2e-profile.txt``, collapsed stacks; ``bench.profile``
summarises them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import (
    LOG_DIR,
    ROOT,
    TENANT,
    TENANT_KEY,
    broker_settings,
    cpu_seconds,
    fresh_broker,
    inbound_events,
    inbound_topic,
    prefill,
    rate,
    say,
)
from schemas.codec import encode
from schemas.config_file import load_config_file
from schemas.events import (
    AgentCapacityChanged,
    AgentPresenceChanged,
    OfferAccepted,
    WorkFinished,
)
from schemas.tenant_config import TenantConfig
from streams import topics
from streams.admin import create_topics, producer, publish_config, reader, wait_for_broker
from streams.broker import free_port
from streams.processes import spawn_worker, stop_process
from streams.settings import Settings

#: N when ``BENCH_EVENTS`` is unset.
DEFAULT_EVENTS = 10_000
TENANT_FILE = ROOT / "examples" / "demo-tenant.yaml"
#: Capacity per configured channel: far more than N, so nothing has to wait.
BIG_CAPACITY = 1_000_000
OUTCOME_TOPICS = (topics.ASSIGNED, topics.QUEUED, topics.UNROUTABLE, topics.OFFERS)
#: The run fails when no new outcome arrives for this long.
STALL_S = 60.0
PROGRESS_S = 5.0
#: How long the latency phase produces, and the fewest tickets it times.
LATENCY_S = 10.0
LATENCY_MIN_EVENTS = 1_000
#: Longest the worker may take to catch up after the throughput phase.
DRAIN_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 120.0
PROFILE_FILE = LOG_DIR / "e2e-profile.txt"
#: The agents' answers (accept, finish) are batched like a gateway's, not one per request.
FINISHER_LINGER_MS = 5

_LEVEL = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]\s*(.*)|\"level\":\"(warning|error|critical)\"")
_MESSAGE = re.compile(r"\"message\":\"([^\"]*)\"")
_NUMBER = re.compile(r"\d+(\.\d+)?")


class WorkerProcess:
    """One ``streams.cli worker`` subprocess; :meth:`stop` is safe to call at any time."""

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "DESKROUTE_PARTITIONS": str(self.settings.partitions),
            "DESKROUTE_WEB_PORT": str(self.settings.web_port),
            "DESKROUTE_DATA_DIR": self.settings.data_dir,
            **self.extra_env,
        }
        self.log_path.unlink(missing_ok=True)
        self.spawned_at = time.time()
        self.proc = spawn_worker(env, self.log_path)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def rss_bytes(self) -> int:
        """Resident set size of the live worker (0 when it is gone)."""
        try:
            with open(f"/proc/{self.pid}/statm", encoding="ascii") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            return 0

    def get(self, path: str) -> tuple[int, Any]:
        """GET one of the worker's views: (status, decoded JSON or text); (0, None) if down."""
        try:
            with urllib.request.urlopen(self.web + path, timeout=2) as resp:
                body = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read(), exc.code
        except OSError:
            return 0, None
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode("utf-8", "replace")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        code = stop_process(proc, timeout)
        if code == -signal.SIGKILL:
            say(f"worker did not stop within {timeout:.0f}s of SIGTERM; it was killed")
        return code

    def log_problems(self) -> Counter[tuple[str, str]]:
        """(level, message with numbers as #) -> count, over the worker's log."""
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return Counter()
        found: Counter[tuple[str, str]] = Counter()
        for line in text.splitlines():
            m = _LEVEL.search(line)
            if m:
                level = (m.group(1) or m.group(3) or "").upper()
                message = m.group(2) or ""
                if m.group(3):
                    mm = _MESSAGE.search(line)
                    message = mm.group(1) if mm else line
                found[(level, _NUMBER.sub("#", message.strip())[:160])] += 1
            elif line.startswith("Traceback"):
                found[("ERROR", "Traceback")] += 1
        return found

    def report_problems(self, label: str) -> dict[str, float]:
        problems = self.log_problems()
        for (level, message), count in problems.most_common(8):
            say(f"{label}: worker log: {count} x {level} {message}")
        return {
            f"{label}_worker_log_warnings": sum(
                c for (level, _m), c in problems.items() if level == "WARNING"
            ),
            f"{label}_worker_log_errors": sum(
                c for (level, _m), c in problems.items() if level != "WARNING"
            ),
        }

    async def wait_agents_online(self, config: TenantConfig, label: str) -> float:
        """Wait until the worker serves ``config.tenant`` with every agent online;
        returns the seconds since spawn."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        want = {a.id for a in config.agents.values() if any(c > 0 for c in a.capacity.values())}
        while True:
            code = self.exited()
            if code is not None:
                raise RuntimeError(f"worker exited with code {code}; see {self.log_path}")
            status, body = await asyncio.to_thread(self.get, f"/state/{config.tenant}")
            if status == 200 and isinstance(body, dict):
                online = {a for a, s in body.get("agents", {}).items() if s["presence"] == "online"}
                if want <= online:
                    took = time.time() - self.spawned_at
                    say(
                        f"{label}: worker ready, {len(online)} agents online, {took:.1f}s after spawn"
                    )
                    return took
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker not ready with agents online after {READY_TIMEOUT_S}s")
            await asyncio.sleep(0.2)


class Profiler:
    """py-spy recording one process until :meth:`stop` (a no-op when py-spy is missing)."""

    def __init__(self, pid: int, out: Path) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        if not Path(exe).exists():
            say("py-spy not found; no profile")
            return
        out.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            say(f"profile written to {self.out}")


async def bring_agents_online(settings: Settings, config: TenantConfig) -> None:
    """Topics, the tenant's config, and every agent online with a huge capacity."""
    await wait_for_broker(settings)
    await create_topics(settings)
    await publish_config(settings, config)
    now = time.time()
    agent_records: list[bytes] = []
    for agent in config.agents.values():
        capacity = {ch: BIG_CAPACITY for ch, c in agent.capacity.items() if c > 0}
        cap = AgentCapacityChanged(f"bench-cap-{agent.id}", config.tenant, agent.id, capacity, now)
        online = AgentPresenceChanged(
            f"bench-on-{agent.id}", config.tenant, agent.id, "online", now
        )
        agent_records += [encode(cap), encode(online)]
    p = producer(settings)
    await p.start()
    try:
        for value in agent_records:
            await p.send_and_wait(topics.AGENT_EVENTS, value, key=config.tenant.encode())
    finally:
        await p.stop()


def _describe(topic: str, offset: int, obj: dict[str, Any]) -> str:
    kind = topic.rsplit(".", 1)[-1]
    if kind == "assigned":
        return f"assigned@{offset} to {obj.get('agent_id')}"
    if kind == "queued":
        where = f"{obj.get('department')}/{obj.get('channel')}"
        return f"queued@{offset} in {where}: {obj.get('reason')}"
    return f"{kind}@{offset}: {obj.get('reason')}"


@dataclass
class Outcome:
    kind: str
    timestamp_ms: int
    #: Milliseconds from the inbound record's timestamp to this outcome's (assignments).
    latency_ms: float | None
    #: Of which from the inbound record to the rule stage's routed record.
    rules_ms: float | None = None


@dataclass
class Observer:
    """Reads every outcome topic from the beginning; keeps each ticket's first outcome."""

    settings: Settings
    consumer: AIOKafkaConsumer | None = None
    finisher: AIOKafkaProducer | None = None
    first: dict[str, Outcome] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    repeated: int = 0
    deadlettered: int = 0
    finished: int = 0
    accepted: int = 0
    #: ticket -> timestamp (ms) of its routed record: splits a latency in two hops.
    routed_ms: dict[str, int] = field(default_factory=dict)

    async def start(self) -> None:
        self.finisher = producer(self.settings, linger_ms=FINISHER_LINGER_MS)
        await self.finisher.start()
        self.consumer = reader(self.settings)
        await self.consumer.start()
        tps = [
            TopicPartition(t, p)
            for t in (*OUTCOME_TOPICS, topics.DEADLETTER, topics.ROUTED)
            for p in range(self.settings.partitions)
        ]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.finisher is not None:
            await self.finisher.stop()

    async def poll(self) -> int:
        """Read what arrived; returns how many tickets got a first outcome (or a dead letter)."""
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=200)
        new = 0
        for tp, records in batches.items():
            if tp.topic == topics.DEADLETTER:
                self.deadlettered += len(records)
                new += len(records)
                continue
            if tp.topic == topics.ROUTED:
                for r in records:
                    # Relayed agent events and clock ticks share the topic.
                    if r.value and r.value.startswith(b'{"type":"TicketRouted"'):
                        routed = orjson.loads(r.value)
                        self.routed_ms.setdefault(str(routed.get("ticket_id")), r.timestamp)
                continue
            for r in records:
                obj = orjson.loads(r.value) if r.value else {}
                kind = tp.topic.rsplit(".", 1)[-1]
                if tp.topic == topics.OFFERS:
                    if obj.get("type") != "TicketOffered":
                        continue  # missed or withdrawn offers: the ticket's fate comes later
                    kind = "offered"
                    await self.accept(obj)
                elif kind == "assigned":
                    await self.finish(obj)
                ticket = str(obj.get("ticket_id"))
                seen = self.first.get(ticket)
                if seen is not None:
                    if not (seen.kind == "offered" and kind == "assigned"):
                        self.repeated += 1
                        self.notes.append(
                            f"{ticket}: {_describe(tp.topic, r.offset, obj)} (repeat)"
                        )
                    continue
                latency = rules = None
                if kind == "offered" or (kind == "assigned" and not obj.get("waited_s")):
                    ingested = float(obj.get("ingested_at", 0.0)) * 1000.0
                    latency = r.timestamp - ingested
                    routed_at = self.routed_ms.get(ticket)
                    rules = None if routed_at is None else routed_at - ingested
                self.first[ticket] = Outcome(kind, r.timestamp, latency, rules)
                new += 1
                if kind not in ("assigned", "offered"):
                    self.notes.append(f"{ticket}: {_describe(tp.topic, r.offset, obj)}")
        return new

    async def accept(self, offered: dict[str, Any]) -> None:
        """The first agent a chat or call rings takes it right away."""
        assert self.finisher is not None
        ticket, agent = str(offered["ticket_id"]), str(offered["agent_ids"][0])
        taken = OfferAccepted(f"acc-{ticket}", TENANT, agent, ticket, time.time())
        await self.finisher.send(topics.AGENT_EVENTS, encode(taken), key=TENANT_KEY)
        self.accepted += 1

    async def finish(self, assigned: dict[str, Any]) -> None:
        """The agent closes the work right away (acknowledged later, not awaited here)."""
        assert self.finisher is not None
        ticket, agent = str(assigned["ticket_id"]), str(assigned["agent_id"])
        done = WorkFinished(f"fin-{ticket}", TENANT, agent, ticket, time.time())
        await self.finisher.send(topics.AGENT_EVENTS, encode(done), key=TENANT_KEY)
        self.finished += 1

    def of(self, prefix: str) -> list[Outcome]:
        return [o for t, o in self.first.items() if t.startswith(prefix)]


def _cpu(worker_pid: int, broker_pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of the worker, the broker and this (observing) process."""
    return cpu_seconds(worker_pid), cpu_seconds(broker_pid), time.process_time()


async def _wait_outcomes(
    obs: Observer, worker: WorkerProcess, broker_pid: int, prefix: str, n: int, label: str
) -> tuple[float, float, tuple[float, float, float], tuple[float, float, float]]:
    """Wait until ``n`` tickets whose ids start with ``prefix`` have an outcome.

    Returns the observer's wall clock at the first and the last of them and the
    CPU seconds (worker, broker, observer) at those two moments.
    """
    wall_first = wall_last = 0.0
    cpu_first = cpu_last = cpu_note = (0.0, 0.0, 0.0)
    noted_at = 0.0
    last_progress = time.monotonic()
    next_note = last_progress + PROGRESS_S
    done = 0
    while done < n:
        code = worker.exited()
        if code is not None:
            raise RuntimeError(f"worker exited with code {code}; see {worker.log_path}")
        if time.monotonic() - last_progress > STALL_S:
            raise TimeoutError(f"no outcome for {STALL_S:.0f}s; {done}/{n} so far")
        if await obs.poll():
            received = time.time()
            done = len(obs.of(prefix)) + obs.deadlettered
            last_progress = time.monotonic()
            if not wall_first:
                wall_first = received
                cpu_first = cpu_note = _cpu(worker.pid, broker_pid)
                noted_at = time.monotonic()
            wall_last = received
            cpu_last = _cpu(worker.pid, broker_pid)
        if time.monotonic() >= next_note:
            next_note = time.monotonic() + PROGRESS_S
            now_cpu, now = _cpu(worker.pid, broker_pid), time.monotonic()
            span = max(now - noted_at, 1e-3)
            busy = [(b - a) / span for a, b in zip(cpu_note, now_cpu, strict=True)]
            cpu_note, noted_at = now_cpu, now
            load = f"worker {busy[0]:.2f}, broker {busy[1]:.2f}" if wall_first else "-"
            say(f"{label}: {done}/{n} tickets have an outcome; cores busy: {load}")
    return wall_first, wall_last, cpu_first, cpu_last


async def throughput(
    settings: Settings, obs: Observer, worker: WorkerProcess, broker_pid: int, n: int
) -> dict[str, float]:
    events = inbound_events(n, run_id="bench")
    sizes = [len(value) for _channel, value in events]
    by_channel = Counter(channel for channel, _value in events)
    say(f"e2e: {n} events, {sum(sizes) / n:.0f} bytes on average, {dict(by_channel)}")
    records = [(inbound_topic(channel), TENANT_KEY, value) for channel, value in events]
    profiler = Profiler(worker.pid, PROFILE_FILE) if os.environ.get("BENCH_PROFILE") else None
    try:
        await prefill(settings, records, "e2e")
        wall_first, wall_last, cpu_first, cpu_last = await _wait_outcomes(
            obs, worker, broker_pid, "bench-", n, "e2e"
        )
    finally:
        if profiler is not None:
            profiler.stop()
    outcomes = obs.of("bench-")
    for note in obs.notes[:8]:
        say(f"e2e: {note}")
    if len(obs.notes) > 8:
        say(f"e2e: ... and {len(obs.notes) - 8} more outcomes other than a first assignment")
    if obs.deadlettered:
        say(f"e2e: {obs.deadlettered} records were dead-lettered; the figures are not clean")
    if len(outcomes) < 2:
        raise RuntimeError(f"{len(outcomes)} tickets reached an outcome; need 2 to time")
    stamps = sorted(o.timestamp_ms for o in outcomes)
    kinds = Counter(o.kind for o in outcomes)
    half = len(stamps) // 2
    first, mid, last = stamps[0] / 1000, stamps[half] / 1000, stamps[-1] / 1000
    wall_span = wall_last - wall_first
    cores = [
        round((b - a) / wall_span, 2) if wall_span > 0 else 0.0
        for a, b in zip(cpu_first, cpu_last, strict=True)
    ]
    eps = rate(len(stamps) - 1, last - first)
    say(
        f"e2e: {len(stamps)} outcomes in {last - first:.2f}s = {eps:.0f}/s (record "
        f"timestamps); cores busy: worker {cores[0]}, broker {cores[1]}, observer {cores[2]}"
    )
    return {
        "e2e_decision_eps": eps,
        "e2e_wall_eps": rate(len(stamps) - 1, wall_span),
        "e2e_eps_first_half": rate(half, mid - first),
        "e2e_eps_second_half": rate(len(stamps) - 1 - half, last - mid),
        "e2e_worker_cores": cores[0],
        "e2e_broker_cores": cores[1],
        "e2e_observer_cores": cores[2],
        "e2e_events": n,
        "e2e_assigned": kinds["assigned"],
        "e2e_queued": kinds["queued"],
        "e2e_unroutable": kinds["unroutable"],
        "e2e_repeated_outcomes": obs.repeated,
        "e2e_finished": obs.finished,
        "e2e_offers_accepted": obs.accepted,
        "e2e_offered": kinds["offered"],
        "e2e_deadlettered": obs.deadlettered,
    }


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def paced_send(
    settings: Settings, events: list[tuple[str, bytes]], per_second: float
) -> float:
    """Produce one record at a time at ``per_second``, as a gateway does; returns the
    achieved rate. Acknowledgements are awaited at the end, not per record."""
    p = producer(settings)
    await p.start()
    try:
        futures = []
        start = time.perf_counter()
        for i, (topic, value) in enumerate(events):
            delay = start + i / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await p.send(topic, value, key=TENANT_KEY))
        took = time.perf_counter() - start
        await asyncio.gather(*futures)
    finally:
        await p.stop()
    return len(events) / took if took > 0 else 0.0


def _sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` in a scrape whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head != name and not head.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def loop_lag(worker: WorkerProcess) -> dict[str, float]:
    """How often the worker's event loop was held past 100 ms and past 1 s so far:
    the fetcher and the group's heartbeats (6 s session) share it with the stages."""
    status, text = await asyncio.to_thread(worker.get, "/metrics")
    if status != 200 or not isinstance(text, str):
        return {}
    name = "deskroute_event_loop_lag_seconds"
    count = _sum(text, name + "_count")
    return {
        "e2e_loop_lags": count,
        "e2e_loop_lags_over_100ms": count - _sum(text, name + "_bucket", le="0.1"),
        "e2e_loop_lags_over_1s": count - _sum(text, name + "_bucket", le="1.0"),
    }


async def drain(worker: WorkerProcess, obs: Observer, setup_events: int) -> dict[str, float]:
    """Wait until the worker has applied every agent event sent so far (the agents'
    answers to the last decisions included): the rate over that whole span is
    what it sustains."""
    started = time.monotonic()
    while True:
        if time.monotonic() - started > DRAIN_TIMEOUT_S:
            raise TimeoutError(f"worker still behind after {DRAIN_TIMEOUT_S:.0f}s")
        await obs.poll()  # keeps answering offers and assignments
        status, text = await asyncio.to_thread(worker.get, "/metrics")
        if status == 200 and isinstance(text, str):
            applied = _sum(text, "deskroute_agent_events_total") + _sum(
                text, "deskroute_duplicate_events_total", stage="agent_events"
            )
            if applied >= setup_events + obs.finished + obs.accepted:
                break
        await asyncio.sleep(0.2)
    first = min(o.timestamp_ms for o in obs.of("bench-")) / 1000
    n = len(obs.of("bench-"))
    span = time.time() - first
    sustained = rate(n, span)
    took = time.monotonic() - started
    # What the worker read to get there: each ticket once on its inbound topic and
    # once routed, each agent answer once on the agent events topic and once relayed
    # (clock ticks aside). The ceiling moves one record per event: this is the rate
    # comparable to it, record for record.
    records = 2 * (n + obs.finished + obs.accepted)
    say(
        f"e2e: caught up {took:.1f}s after the last decision: {sustained:.0f}/s sustained; "
        f"{records / max(n, 1):.2f} records read per ticket, {rate(records, span):.0f} records/s"
    )
    return {
        "e2e_eps": sustained,
        "e2e_drain_s": round(took, 1),
        "e2e_records_per_ticket": round(records / max(n, 1), 2),
        "e2e_records_eps": rate(records, span),
    }


async def latency(
    settings: Settings, obs: Observer, worker: WorkerProcess, broker_pid: int, eps: float
) -> dict[str, float]:
    per_second = max(1.0, eps / 2)
    if os.environ.get("BENCH_LATENCY_EPS"):
        # A fixed rate, to compare latencies of two builds on a noisy machine.
        per_second = float(os.environ["BENCH_LATENCY_EPS"])
    m = max(LATENCY_MIN_EVENTS, int(per_second * LATENCY_S))
    events = [(inbound_topic(c), v) for c, v in inbound_events(m, seed=11, run_id="lat")]
    say(f"latency: {m} tickets at {per_second:.0f}/s (half of e2e_eps), one record at a time")
    sender = asyncio.ensure_future(paced_send(settings, events, per_second))
    try:
        _w0, _w1, cpu_first, cpu_last = await _wait_outcomes(
            obs, worker, broker_pid, "lat-", m, "latency"
        )
    finally:
        achieved = await sender
    span = max(_w1 - _w0, 1e-3)
    cores = [round((b - a) / span, 2) for a, b in zip(cpu_first, cpu_last, strict=True)]
    outcomes = obs.of("lat-")
    timed = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    # The first and the last second of decisions: how far the broker's growing
    # logs (every fetch lists every batch of its partitions) moved the figure.
    by_time = sorted((o.timestamp_ms, o.latency_ms) for o in outcomes if o.latency_ms is not None)
    second = int(per_second)
    first_s = [lat for _t, lat in by_time[:second]]
    last_s = [lat for _t, lat in by_time[-second:]]
    if os.environ.get("BENCH_LATENCY_DUMP"):
        # (decision timestamp ms, latency ms) per ticket: when the slow ones happened.
        series = sorted((o.timestamp_ms, o.latency_ms) for o in outcomes if o.latency_ms)
        Path(os.environ["BENCH_LATENCY_DUMP"]).write_text(
            "".join(f"{t} {lat:.1f}\n" for t, lat in series)
        )
    p50, p99 = percentile(timed, 0.5), percentile(timed, 0.99)
    # The two hops: inbound -> routed (rule stage), routed -> decision (assignment stage).
    rules = [o.rules_ms for o in outcomes if o.rules_ms is not None and o.latency_ms is not None]
    assign = [
        o.latency_ms - o.rules_ms
        for o in outcomes
        if o.rules_ms is not None and o.latency_ms is not None
    ]
    say(
        f"latency: {len(timed)} assignments without waiting, sent at {achieved:.0f}/s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(timed, default=0.0):.1f} ms; "
        f"to the routed record p50 {percentile(rules, 0.5):.1f} / p99 "
        f"{percentile(rules, 0.99):.1f} ms, from it to the decision p50 "
        f"{percentile(assign, 0.5):.1f} / p99 {percentile(assign, 0.99):.1f} ms"
    )
    return {
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "p50_rules_hop_ms": round(percentile(rules, 0.5), 1),
        "p99_rules_hop_ms": round(percentile(rules, 0.99), 1),
        "p50_assign_hop_ms": round(percentile(assign, 0.5), 1),
        "p99_assign_hop_ms": round(percentile(assign, 0.99), 1),
        "p99_first_second_ms": round(percentile(first_s, 0.99), 1),
        "p99_last_second_ms": round(percentile(last_s, 0.99), 1),
        "latency_worker_cores": cores[0],
        "latency_broker_cores": cores[1],
        "latency_observer_cores": cores[2],
        "latency_rate_eps": round(achieved, 1),
        "latency_events": m,
        "latency_timed": len(timed),
        "latency_max_ms": round(max(timed, default=0.0), 1),
    }


async def _with_worker(
    settings: Settings, config: TenantConfig, worker: WorkerProcess, label: str, measure: Any
) -> dict[str, float]:
    """Agents online, the observer reading, the worker started and serving them:
    then ``measure(obs, startup seconds)``."""
    await bring_agents_online(settings, config)
    obs = Observer(settings)
    await obs.start()
    try:
        worker.start()
        say(f"{label}: worker started (pid {worker.pid}, log {worker.log_path})")
        startup = await worker.wait_agents_online(config, label)
        result: dict[str, float] = await measure(obs, startup)
        return result
    finally:
        await obs.stop()


async def _throughput_phase(
    settings: Settings,
    config: TenantConfig,
    worker: WorkerProcess,
    broker_pid: int,
    n: int,
    obs: Observer,
    startup: float,
) -> dict[str, float]:
    result: dict[str, float] = {"e2e_startup_s": round(startup, 3)}
    result.update(await throughput(settings, obs, worker, broker_pid, n))
    result.update(await drain(worker, obs, 2 * len(config.agents)))
    if os.environ.get("BENCH_LATENCY_SAME_BROKER"):
        # The old way, for comparison: on the broker the burst just filled.
        found = await latency(settings, obs, worker, broker_pid, result["e2e_eps"])
        result.update({f"{k}_same_broker": v for k, v in found.items()})
    result["e2e_worker_rss_mb"] = round(worker.rss_bytes() / 2**20, 1)
    result.update(await loop_lag(worker))
    return result


def _phase(name: str, phase: Any) -> dict[str, float]:
    """Run one phase with its own fresh broker and worker; ``phase(settings, worker,
    broker_pid)`` returns its coroutine."""
    with fresh_broker(name) as broker, tempfile.TemporaryDirectory(prefix="deskroute-bench-") as d:
        settings = broker_settings(broker, web_port=free_port(), data_dir=d)
        worker = WorkerProcess(settings, LOG_DIR / f"{name}-worker.log")
        broker_pid = broker.proc.pid if broker.proc else 0
        try:
            result: dict[str, float] = asyncio.run(phase(settings, worker, broker_pid))
        finally:
            code = worker.stop()
            if code is not None:
                say(f"{name}: worker stopped, exit code {code}")
        result.update(worker.report_problems("e2e"))
        return result


def run(n: int) -> dict[str, float]:
    config = load_config_file(TENANT_FILE, version=1)
    assert config.tenant == TENANT
    result = _phase(
        "e2e",
        lambda s, w, pid: _with_worker(
            s, config, w, "e2e", lambda obs, up: _throughput_phase(s, config, w, pid, n, obs, up)
        ),
    )
    # Latency gets a broker of its own: on the one the burst filled, every fetch
    # lists the burst's batches too, and that (not deskroute) doubled p50 and p99.
    eps = result["e2e_eps"]
    found = _phase(
        "e2e-latency",
        lambda s, w, pid: _with_worker(
            s, config, w, "latency", lambda obs, _up: latency(s, obs, w, pid, eps)
        ),
    )
    for key, value in found.items():
        result[key] = (
            value + result.get(key, 0) if key.endswith(("_warnings", "_errors")) else value
        )
    return result
