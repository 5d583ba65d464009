"""Shared test machinery: the real embedded broker, real worker processes, output readers.

Nothing here mocks Kafka: each integration test gets a fresh embedded broker on
a free port and runs the worker exactly as an operator would (`deskroute worker`).
Waiting is always for an observable event (an output record, a metric value, an
HTTP answer), polled with a deadline, never a bare sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from schemas.codec import decode, encode
from schemas.config_file import parse_config_text
from schemas.tenant_config import TenantConfig
from streams import topics
from streams.admin import create_topics, producer, publish_config, reader, wait_for_broker
from streams.broker import EmbeddedBroker, free_port
from streams.processes import ROOT as ROOT  # re-exported: the tests locate files by it
from streams.processes import spawn_worker, stop_process
from streams.settings import Settings


async def eventually(
    check: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head != name and not head.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@dataclasses.dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    web: str
    log: Path

    def metrics(self) -> str:
        return http_get(f"{self.web}/metrics")[1]

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.metrics(), name, **labels)

    def state(self, tenant: str) -> dict[str, Any]:
        status, body = http_get(f"{self.web}/state/{tenant}")
        assert status == 200, body
        return dict(json.loads(body))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, 20)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class Outputs:
    """Reads the outcome topics from the beginning, in arrival order per topic."""

    TOPICS = (
        topics.ASSIGNED,
        topics.QUEUED,
        topics.UNROUTABLE,
        topics.DEADLETTER,
        topics.OFFERS,
        topics.ESCALATED,
    )

    def __init__(self, settings: Settings) -> None:
        self.records: list[tuple[str, Any]] = []
        self._consumer = reader(settings, *self.TOPICS)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for tp, recs in batches.items():
                for r in recs:
                    self.records.append((tp.topic, decode(r.value)))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for _, e in self.records if isinstance(e, kind)]

    async def wait_for(self, kind: type[Any], n: int, timeout: float = 30.0) -> list[Any]:
        await eventually(lambda: len(self.of(kind)) >= n, timeout, f"{n} {kind.__name__}")
        return self.of(kind)


class Cluster:
    """A fresh embedded broker with deskroute's topics, and the workers started on it."""

    def __init__(self, tmp: Path, partitions: int = 4) -> None:
        self.tmp = tmp
        self.broker = EmbeddedBroker(log_file=tmp / "broker.log")
        self.partitions = partitions
        self.workers: list[Worker] = []
        self._n = 0
        self.settings: Settings

    def __enter__(self) -> Cluster:
        self.broker.start()
        self.settings = Settings(
            kafka_bootstrap=self.broker.bootstrap,
            partitions=self.partitions,
            data_dir=str(self.tmp / "data"),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self.workers:
            w.stop()
        self.broker.stop()

    async def prepare(self, config: TenantConfig) -> None:
        await wait_for_broker(self.settings)
        await create_topics(self.settings)
        await publish_config(self.settings, config)

    def start_worker(self) -> Worker:
        self._n += 1
        port = free_port()
        log = self.tmp / f"worker-{self._n}.log"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "DESKROUTE_PARTITIONS": str(self.partitions),
            "DESKROUTE_WEB_PORT": str(port),
            "DESKROUTE_DATA_DIR": str(self.tmp / f"data-{self._n}"),
        }
        worker = Worker(spawn_worker(env, log), f"http://127.0.0.1:{port}", log)
        self.workers.append(worker)
        return worker

    async def ready(self, worker: Worker, timeout: float = 60.0) -> None:
        def check() -> bool:
            assert worker.proc.poll() is None, f"worker died:\n{worker.log_tail()}"
            try:
                return http_get(f"{worker.web}/health/ready")[0] == 200
            except OSError:
                return False

        await eventually(check, timeout, "worker ready")

    async def send_all(self, items: list[tuple[str, Any]], key: bytes) -> None:
        """Produce records in order and wait for the broker's acknowledgement of each."""
        p = producer(self.settings)
        await p.start()
        try:
            for topic, value in items:
                raw = value if isinstance(value, bytes) else encode(value)
                await p.send_and_wait(topic, raw, key=key)
        finally:
            await p.stop()


def config_from(text: str, version: int = 1) -> TenantConfig:
    return parse_config_text(text, "<test>", version)
