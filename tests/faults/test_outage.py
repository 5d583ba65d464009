"""The broker out of reach: at a worker's start, and for 20 s under a worker and the
ingest gateway (``deskroute ingest``) while a channel keeps posting webhooks.

The embedded broker keeps its data in memory only, so it is never stopped: every
client reaches it through a proxy the test cuts (``tests/faults/proxy.py``), and
the broker advertises the proxy's address so no client can go around it.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from schemas.events import (
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    TicketAssigned,
    TicketQueued,
)
from streams import topics
from tests.faults.harness import Outputs, ProxiedCluster, say, spawn_gateway
from tests.support import config_from, eventually, http_get

pytestmark = pytest.mark.broker

TENANT = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load, offer_timeout: {chat: 0}}  # chats assigned directly
agents:
  - {id: ann, departments: [support], capacity: {email: 500, chat: 500}}
  - {id: bob, departments: [support], capacity: {email: 500, chat: 500}}
"""
GATEWAY = """
tenants:
  acme:
    api_token: outage-token-acme
"""
CUT_S = 20.0
RETRY_AFTER_S = 2


def decided(out: Outputs) -> set[str]:
    return {e.ticket_id for e in out.of(TicketAssigned) + out.of(TicketQueued)}


def alive_for(proc: subprocess.Popen[bytes], log: Path) -> None:
    assert proc.poll() is None, f"process {proc.pid} exited:\n{log.read_text()[-3000:]}"


def test_broker_unreachable_when_the_worker_starts(tmp_path: Path) -> None:
    async def scenario() -> None:
        with ProxiedCluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT))
            cluster.proxy.cut("refuse")
            worker = cluster.start_worker()
            pid = worker.proc.pid
            say(f"injected: broker refused (proxy not listening) when worker pid {pid} starts")
            # The fault lasts 5 s; the worker must be waiting, not gone.
            until = time.monotonic() + 5
            while time.monotonic() < until:
                alive_for(worker.proc, worker.log)
                await asyncio.sleep(0.2)
            assert "waiting for the broker" in worker.log.read_text()
            cluster.proxy.restore()
            restored = time.monotonic()
            await cluster.ready(worker)
            say(
                f"restored: worker ready {time.monotonic() - restored:.1f}s after the link came back"
            )
            out = Outputs(cluster.settings)
            await out.start()
            try:
                now = time.time()
                await cluster.send_all(
                    [
                        (
                            topics.AGENT_EVENTS,
                            AgentPresenceChanged("p-ann", "acme", "ann", "online", now),
                        ),
                        (
                            topics.INBOUND["email"],
                            InboundReceived(
                                "after-start-1", "acme", "email", "src", "c", Customer("c"), now
                            ),
                        ),
                    ],
                    b"acme",
                )
                (assigned,) = await out.wait_for(TicketAssigned, 1)
                assert (assigned.ticket_id, assigned.agent_id) == ("after-start-1", "ann")
                assert worker.proc.pid == pid and worker.proc.poll() is None
                say(f"verified: same worker pid {pid} waited, became ready and routed a ticket")
            finally:
                await out.stop()

    asyncio.run(scenario())


class ChatChannel:
    """A chat platform posting one new chat per tick and, like real channels,
    posting a refused webhook again after the ``Retry-After`` it was given."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.acked: dict[str, float] = {}  # event id -> when the 2xx came
        self.answers: list[tuple[float, int, str | None]] = []  # (when, status, Retry-After)
        self.unexpected: list[tuple[int, str]] = []
        self._n = 0
        self._retries: list[tuple[float, int]] = []
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._retries) + len(self._inflight)

    def post_new(self) -> None:
        self._n += 1
        self._post(self._n)

    def retry_due(self) -> None:
        now = time.monotonic()
        due = [n for at, n in self._retries if at <= now]
        self._retries = [(at, n) for at, n in self._retries if at > now]
        for n in due:
            self._post(n)

    def _post(self, n: int) -> None:
        task = asyncio.ensure_future(self._send(n))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _send(self, n: int) -> None:
        body = orjson.dumps(
            {
                "type": "chat_started",
                "chat_id": f"c-{n}",
                "visitor": {"id": f"v-{n}", "name": "Ada"},
                "text": "Is anyone there?",
            }
        )
        headers = {"Content-Type": "application/json", "Authorization": "Bearer outage-token-acme"}
        try:
            async with self.http.post(self.url, data=body, headers=headers) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                answer: Any = orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.unexpected.append((0, repr(exc)))
            self._retries.append((time.monotonic() + RETRY_AFTER_S, n))
            return
        self.answers.append((time.monotonic(), status, retry_after))
        if 200 <= status < 300:
            for event_id in answer["event_ids"]:
                self.acked[event_id] = time.monotonic()
        elif status == 503:
            self._retries.append((time.monotonic() + float(retry_after or RETRY_AFTER_S), n))
        else:
            self.unexpected.append((status, str(answer)))


def test_twenty_second_outage_under_a_worker_and_the_gateway(tmp_path: Path) -> None:
    async def scenario() -> None:
        with ProxiedCluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT))
            worker = cluster.start_worker()
            gw = spawn_gateway(
                tmp_path,
                cluster.broker.bootstrap,
                GATEWAY,
                DESKROUTE_GATEWAY_PUBLISH_TIMEOUT_S="3",
                DESKROUTE_GATEWAY_RETRY_AFTER_S=str(RETRY_AFTER_S),
            )
            gateway, gateway_log, base = gw.proc, gw.log, gw.url

            out = Outputs(cluster.settings)
            timeout = aiohttp.ClientTimeout(total=15)
            try:
                await cluster.ready(worker)
                await eventually(gw.ready, 30, "gateway ready")
                await out.start()
                await cluster.send_all(
                    [
                        (
                            topics.AGENT_EVENTS,
                            AgentPresenceChanged(f"p-{a}", "acme", a, "online", time.time()),
                        )
                        for a in ("ann", "bob")
                    ],
                    b"acme",
                )
                async with aiohttp.ClientSession(timeout=timeout) as http:
                    chat = ChatChannel(http, f"{base}/ingest/acme/chat")

                    async def traffic(seconds: float) -> None:
                        until = time.monotonic() + seconds
                        while time.monotonic() < until:
                            chat.post_new()
                            chat.retry_due()
                            alive_for(worker.proc, worker.log)
                            alive_for(gateway, gateway_log)
                            await asyncio.sleep(0.2)

                    await traffic(3)
                    before = len(chat.acked)
                    await eventually(
                        lambda: len(decided(out)) >= before, 30, "routing before the cut"
                    )
                    assert before > 0, chat.answers

                    cluster.proxy.cut("hold")
                    cut_at = time.monotonic()
                    say(
                        f"injected: {CUT_S:.0f}s outage (live connections dropped, new ones"
                        f" held) under worker pid {worker.proc.pid} and gateway pid {gateway.pid}"
                    )
                    traffic_task = asyncio.ensure_future(traffic(CUT_S))
                    gateway_saw_it = await eventually(
                        lambda: http_get(f"{base}/health/ready")[0] == 503,
                        CUT_S,
                        "the gateway reporting itself not ready",
                    )
                    await traffic_task
                    worker_during = http_get(f"{worker.web}/health/ready")
                    cluster.proxy.restore()
                    restored_at = time.monotonic()
                    during = [a for a in chat.answers if cut_at + 3.5 < a[0] <= restored_at]
                    statuses = Counter(status for _, status, _ in during)
                    say(
                        f"answers during the cut (after the publish timeout): {dict(statuses)};"
                        f" worker readiness at the end of the cut: {worker_during[0]}"
                        f" {worker_during[1][:200]}"
                    )
                    assert gateway_saw_it
                    assert statuses[503] > 0, during
                    assert all(
                        retry == str(RETRY_AFTER_S) for _, status, retry in during if status == 503
                    )
                    assert set(statuses) == {503}, "nothing can be acknowledged without the broker"

                    # After the link is back: both carry on, the same processes.
                    await eventually(gw.ready, 60, "gateway ready again")
                    await cluster.ready(worker, timeout=90)
                    say(
                        f"restored: gateway ready after {time.monotonic() - restored_at:.1f}s,"
                        " worker ready"
                    )
                    await traffic(3)
                    until = time.monotonic() + 60
                    while chat.pending and time.monotonic() < until:
                        chat.retry_due()
                        await asyncio.sleep(0.2)
                    assert not chat.pending, "retried webhooks not acknowledged after the outage"
                    acked = set(chat.acked)
                    after = [e for e, at in chat.acked.items() if at > restored_at]
                    await eventually(
                        lambda: acked <= decided(out),
                        90,
                        "an outcome for every acknowledged webhook",
                    )
                    assert not chat.unexpected, chat.unexpected[:5]
                    alive_for(worker.proc, worker.log)
                    alive_for(gateway, gateway_log)
                    say(
                        f"verified: {len(acked)} webhooks acknowledged with 2xx ({before} before"
                        f" the cut, {len(after)} after it), {sum(1 for a in chat.answers if a[1] == 503)} answered 503 +"
                        f" Retry-After: {RETRY_AFTER_S} and posted again, every acknowledged one"
                        f" has an outcome; worker pid {worker.proc.pid} and gateway pid"
                        f" {gateway.pid} never exited"
                    )
            finally:
                await out.stop()
                gw.stop()

    asyncio.run(scenario())
