"""Gateway throughput: accepted (2xx) webhook requests per second on the embedded broker.

Three processes, as in production: the embedded broker, ``deskroute ingest``
(the gateway), and a load generator (``python -m bench.gateway load ...``) that
posts signed Viber webhooks, each a new message, over loopback with a fixed
number of connections, bounded in count and time. A 2xx means Kafka acknowledged
the record (acks=all, one record per batch as on every embedded-broker run), so
the figure is "events stored per second through HTTP", not "requests parsed".
If ``wrk`` is installed it measures the same route as a cross-check (its
requests repeat one body; the gateway publishes each).

One tenant's records all go to one partition, and aiokafka keeps one batch per
partition in flight, so with one record per batch the figure is bounded by the
broker's round trip, not by the gateway; ``BENCH_GATEWAY_BATCH_BYTES=16384``
shows the gateway with ordinary batches (not safe for the embedded broker's
changelogs, fine for a measurement).

``run(n) -> dict`` fits ``bench.run``; ``corpus_counts()`` gives the adapters'
parsed/rejected tally over the shared corpus.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from adapters import Context, Parsed, parse
from adapters.signatures import viber_signature
from streams.admin import create_topics, wait_for_broker
from streams.broker import EmbeddedBroker, die_with_parent, free_port
from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVENTS = 5000
CONCURRENCY = 32
TIME_LIMIT_S = 60.0
TOKEN = "bench-viber-token"
CONFIG = f"tenants:\n  demo:\n    viber: {{auth_token: {TOKEN}}}\n"


def _body(i: int) -> bytes:
    return orjson.dumps(
        {
            "event": "message",
            "timestamp": int(time.time() * 1000),
            "message_token": 10_000_000 + i,
            "sender": {"id": f"user-{i % 500}", "name": "Bench"},
            "message": {"type": "text", "text": "Hello, I need help with my order."},
        }
    )


async def _load(url: str, n: int, concurrency: int, limit_s: float) -> dict[str, Any]:
    """The load generator's side: n signed posts from ``concurrency`` connections."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(n))
    deadline = time.monotonic() + limit_s

    async def client(session: aiohttp.ClientSession) -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            body = _body(i)
            headers = {
                "Content-Type": "application/json",
                "X-Viber-Content-Signature": viber_signature(TOKEN, body),
            }
            sent = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] += 1
            latencies.append(time.perf_counter() - sent)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)

    def pick(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {
        "gateway_rps": round(ok / elapsed, 1),
        "gateway_requests_ok": ok,
        "gateway_requests_failed": sum(statuses.values()) - ok,
        "gateway_p50_ms": pick(0.5) if latencies else 0.0,
        "gateway_p99_ms": pick(0.99) if latencies else 0.0,
        "gateway_seconds": round(elapsed, 2),
    }


def _wrk(url: str, seconds: int) -> dict[str, Any]:
    """The same route under wrk (C, two threads), when it is installed."""
    body = _body(0)
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Viber-Content-Signature"] = "{viber_signature(TOKEN, body)}"\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "-s", f.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(f.name)
    total = re.search(r"(\d+) requests in ([\d.]+)s", out)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not total:
        return {"gateway_wrk_error": out[-300:]}
    ok = int(total.group(1)) - (int(failed.group(1)) if failed else 0)
    return {"gateway_rps_wrk": round(ok / float(total.group(2)), 1)}


def run(n: int = DEFAULT_EVENTS) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedBroker(log_file=Path(tmp) / "broker.log") as broker,
    ):
        settings = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(wait_for_broker(settings))
        asyncio.run(create_topics(settings))
        config = Path(tmp) / "gateway.yaml"
        config.write_text(CONFIG)
        port = free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "DESKROUTE_PRODUCER_MAX_BATCH_BYTES": os.environ.get(
                "BENCH_GATEWAY_BATCH_BYTES", "16384"
            ),
            "DESKROUTE_GATEWAY_CONFIG": str(config),
            "DESKROUTE_GATEWAY_PORT": str(port),
            "DESKROUTE_LOG_LEVEL": "warning",
        }
        gateway = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "ingest"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, gateway)
            url = f"{base}/ingest/demo/viber"
            load = subprocess.run(
                [sys.executable, "-m", "bench.gateway", "load", url, str(n), str(CONCURRENCY)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=TIME_LIMIT_S + 60,
            )
            if load.returncode != 0:
                raise RuntimeError(f"load generator failed: {load.stderr[-500:]}")
            result: dict[str, Any] = json.loads(load.stdout.strip().splitlines()[-1])
            if shutil.which("wrk"):
                result.update(_wrk(url, 10))
            return result
        finally:
            gateway.terminate()
            gateway.wait(20)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gateway not ready in time")


def corpus_counts(corpus: Path = ROOT.parent / "shared" / "corpus") -> dict[str, Any]:
    """How many corpus payloads each adapter parses or rejects, and why."""
    outcomes: Counter[str] = Counter()
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        name = path.name
        if path.suffix == ".eml":
            adapter, body = "email", path.read_bytes()
        elif name.startswith("viber_"):
            adapter, body = "viber", path.read_bytes()
        elif name.startswith("twilio_"):
            adapter, body = "call", path.read_bytes()
        elif name.startswith("twitter_"):  # Zammad's capture: {"headers", "params": body}
            adapter, body = "twitter", orjson.dumps(orjson.loads(path.read_bytes())["params"])
        else:
            continue
        result = parse(adapter, body, Context("demo"))
        outcomes["parsed" if isinstance(result, Parsed) else f"rejected:{result.reason}"] += 1
    parsed = outcomes.pop("parsed", 0)
    return {
        "corpus_parsed": parsed,
        "corpus_rejected": sum(outcomes.values()),
        "corpus_rejected_by_reason": dict(sorted(outcomes.items())),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"]:
        url, n, concurrency = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(asyncio.run(_load(url, n, concurrency, TIME_LIMIT_S))))
    elif sys.argv[1:2] == ["corpus"]:
        print(json.dumps(corpus_counts()))
    else:
        print(json.dumps({**run(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_EVENTS)}))
