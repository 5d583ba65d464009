"""deskroute end to end with one worker process, on a fresh embedded broker.

Before the worker starts: topics are created, the demo tenant's config is
published, every agent is brought online with a capacity of 1,000,000 on each
channel it is configured for (so tickets are assigned, not queued), and N inbound
events of all four channels (key ``b"demo"``) wait on the inbound topics. Then
``python -m streams.cli worker`` starts (one record per producer batch, as on
this broker everywhere) and a plain aiokafka consumer counts the first outcome
of each ticket on the assigned, queued and unroutable topics. Dead letters are
counted too, so that a bad run ends instead of waiting for outcomes that never
come; the run fails if no outcome arrives for :data:`STALL_S` seconds.

Clocks (all epoch seconds, ``time.time()`` in both processes of one machine):

* ``e2e_eps``: (N - 1) / (timestamp of the N-th first outcome - timestamp of the
  first). Record timestamps are CreateTime, set by the worker's producer when it
  takes the record, so the observer's own fetch delays do not count.
* ``e2e_wall_eps``: the same span on the observer's wall clock (when it received
  the first and the N-th outcome); informative.
* ``e2e_startup_s``: from just before the worker process is spawned to the
  timestamp of its first outcome record (imports, group join, table recovery,
  config load, first ticket).
* ``e2e_eps_first_half`` / ``e2e_eps_second_half``: the rate over the first and
  the second half of the outcomes (record timestamps): whether it holds up as
  state and the broker's logs grow.
* ``e2e_worker_cores`` / ``e2e_broker_cores`` / ``e2e_observer_cores``: CPU
  seconds each process used between the observer's first and N-th outcome,
  divided by that wall span (1.0 = one core busy throughout).

A few tickets may be queued at the very start: the assignment stage reads
routed tickets and agent events as one stream, and Faust does not hand over the
agent events (written before the worker started) strictly before the first
routed tickets. They are assigned as soon as the agents are online; only each
ticket's first outcome counts, repeats are reported as ``e2e_repeated_outcomes``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from bench.common import (
    LOG_DIR,
    ROOT,
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
from schemas.events import AgentCapacityChanged, AgentPresenceChanged
from schemas.tenant_config import TenantConfig
from streams import topics
from streams.admin import create_topics, producer, publish_config, reader, wait_for_broker
from streams.broker import free_port
from streams.processes import spawn_worker, stop_process
from streams.settings import Settings

#: N when ``BENCH_EVENTS`` is unset. Every ticket adds one-record batches to the
#: same few partitions, and the embedded broker slows down as such logs grow (see
#: :mod:`bench.common`); 5,000 keeps this benchmark near 40 seconds.
DEFAULT_EVENTS = 10_000
TENANT_FILE = ROOT / "examples" / "demo-tenant.yaml"
#: Capacity per configured channel: far more than N, so nothing has to wait.
BIG_CAPACITY = 1_000_000
OUTCOME_TOPICS = (topics.ASSIGNED, topics.QUEUED, topics.UNROUTABLE)
#: The run fails when no new outcome arrives for this long.
STALL_S = 60.0
PROGRESS_S = 5.0

_LEVEL = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]\s*(.*)")
_NUMBER = re.compile(r"\d+(\.\d+)?")


class WorkerProcess:
    """One ``streams.cli worker`` subprocess; :meth:`stop` is safe to call at any time."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def start(self) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "DESKROUTE_PARTITIONS": str(self.settings.partitions),
            "DESKROUTE_PRODUCER_MAX_BATCH_BYTES": str(self.settings.producer_max_batch_bytes),
            "DESKROUTE_WEB_PORT": str(self.settings.web_port),
            "DESKROUTE_DATA_DIR": self.settings.data_dir,
        }
        self.log_path.unlink(missing_ok=True)
        self.spawned_at = time.time()
        self.proc = spawn_worker(env, self.log_path)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        code = stop_process(proc, timeout)
        if code == -signal.SIGKILL:
            say(f"e2e: worker did not stop within {timeout:.0f}s of SIGTERM; it was killed")
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
                found[(m.group(1), _NUMBER.sub("#", m.group(2).strip())[:160])] += 1
            elif line.startswith("Traceback"):
                found[("ERROR", "Traceback")] += 1
        return found


async def _setup(settings: Settings, config: TenantConfig, n: int) -> None:
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
    # Few records, each acknowledged before the next, with deskroute's producer settings.
    p = producer(settings)
    await p.start()
    try:
        for value in agent_records:
            await p.send_and_wait(topics.AGENT_EVENTS, value, key=config.tenant.encode())
    finally:
        await p.stop()
    events = inbound_events(n)
    sizes = [len(value) for _channel, value in events]
    by_channel = Counter(channel for channel, _value in events)
    say(
        f"e2e: {len(config.agents)} agents online with capacity {BIG_CAPACITY:,} per channel; "
        f"{n} events, {sum(sizes) / n:.0f} bytes on average, {dict(by_channel)}"
    )
    records = [(inbound_topic(channel), TENANT_KEY, value) for channel, value in events]
    await prefill(settings, records, "e2e")


def _describe(topic: str, offset: int, obj: dict[str, Any]) -> str:
    kind = topic.rsplit(".", 1)[-1]
    if kind == "assigned":
        return f"assigned@{offset} to {obj.get('agent_id')}"
    if kind == "queued":
        where = f"{obj.get('department')}/{obj.get('channel')}"
        return f"queued@{offset} in {where}: {obj.get('reason')}"
    return f"{kind}@{offset}: {obj.get('reason')}"


def _cpu(worker_pid: int, broker_pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of the worker, the broker and this (observing) process."""
    return cpu_seconds(worker_pid), cpu_seconds(broker_pid), time.process_time()


async def _observe(
    settings: Settings, worker: WorkerProcess, broker_pid: int, n: int
) -> dict[str, float]:
    consumer = reader(settings)
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in (*OUTCOME_TOPICS, topics.DEADLETTER)
            for p in range(settings.partitions)
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        first_outcome: dict[str, str] = {}  # ticket id -> its first outcome, described
        stamps: list[int] = []  # record timestamp (ms) of each ticket's first outcome
        kinds: Counter[str] = Counter()
        notes: list[str] = []  # outcomes other than a first assignment
        repeated = deadlettered = 0
        wall_first = wall_last = 0.0
        cpu_first = cpu_note = (0.0, 0.0, 0.0)
        noted_at = 0.0

        worker.start()
        say(f"e2e: worker started (pid {worker.pid}, log {worker.log_path})")
        last_progress = time.monotonic()
        next_note = last_progress + PROGRESS_S
        while len(stamps) + deadlettered < n:
            code = worker.exited()
            if code is not None:
                raise RuntimeError(f"worker exited with code {code}; see {worker.log_path}")
            if time.monotonic() - last_progress > STALL_S:
                raise TimeoutError(f"no outcome for {STALL_S:.0f}s; {len(stamps)}/{n} so far")
            batches = await consumer.getmany(timeout_ms=500)
            received = time.time()
            before = len(stamps) + deadlettered
            for tp, records in batches.items():
                if tp.topic == topics.DEADLETTER:
                    deadlettered += len(records)
                    continue
                for r in records:
                    obj = orjson.loads(r.value) if r.value else {}
                    ticket = str(obj.get("ticket_id"))
                    what = _describe(tp.topic, r.offset, obj)
                    if ticket in first_outcome:
                        repeated += 1
                        notes.append(f"{ticket}: {what}, after {first_outcome[ticket]}")
                        continue
                    first_outcome[ticket] = what
                    stamps.append(r.timestamp)
                    kind = tp.topic.rsplit(".", 1)[-1]
                    kinds[kind] += 1
                    if kind != "assigned":
                        notes.append(f"{ticket}: {what}")
            if len(stamps) + deadlettered > before:
                last_progress = time.monotonic()
                if not wall_first:
                    wall_first = received
                    cpu_first = cpu_note = _cpu(worker.pid, broker_pid)
                    noted_at = time.monotonic()
                wall_last = received
            if time.monotonic() >= next_note:
                next_note = time.monotonic() + PROGRESS_S
                now_cpu, now = _cpu(worker.pid, broker_pid), time.monotonic()
                span = max(now - noted_at, 1e-3)
                busy = [(b - a) / span for a, b in zip(cpu_note, now_cpu, strict=True)]
                cpu_note, noted_at = now_cpu, now
                load = f"worker {busy[0]:.2f}, broker {busy[1]:.2f}" if wall_first else "-"
                say(f"e2e: {len(stamps)}/{n} tickets have an outcome; cores busy: {load}")
        cpu_last = _cpu(worker.pid, broker_pid)

        for note in notes[:8]:
            say(f"e2e: {note}")
        if len(notes) > 8:
            say(f"e2e: ... and {len(notes) - 8} more outcomes other than a first assignment")
        if deadlettered:
            say(f"e2e: {deadlettered} records were dead-lettered; the figures are not clean")
        if len(stamps) < 2:
            raise RuntimeError(f"{len(stamps)} tickets reached an outcome; need 2 to time")
        stamps.sort()
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
            f"timestamps); first outcome {first - worker.spawned_at:.2f}s after spawn; "
            f"cores busy: worker {cores[0]}, broker {cores[1]}, observer {cores[2]}"
        )
        return {
            "e2e_eps": eps,
            "e2e_startup_s": round(first - worker.spawned_at, 3),
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
            "e2e_repeated_outcomes": repeated,
            "e2e_deadlettered": deadlettered,
        }
    finally:
        await consumer.stop()


def run(n: int) -> dict[str, float]:
    config = load_config_file(TENANT_FILE, version=1)
    with fresh_broker("e2e") as broker, tempfile.TemporaryDirectory(prefix="deskroute-bench-") as d:
        settings = broker_settings(broker, web_port=free_port(), data_dir=d)
        worker = WorkerProcess(settings, LOG_DIR / "e2e-worker.log")
        try:
            asyncio.run(_setup(settings, config, n))
            broker_pid = broker.proc.pid if broker.proc else 0
            result = asyncio.run(_observe(settings, worker, broker_pid, n))
        finally:
            code = worker.stop()
            problems = worker.log_problems()
            if code is not None:
                say(f"e2e: worker stopped, exit code {code}")
            for (level, message), count in problems.most_common(8):
                say(f"e2e: worker log: {count} x {level} {message}")
        result["e2e_worker_log_warnings"] = sum(
            c for (level, _m), c in problems.items() if level == "WARNING"
        )
        result["e2e_worker_log_errors"] = sum(
            c for (level, _m), c in problems.items() if level != "WARNING"
        )
        return result
