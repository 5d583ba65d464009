"""The operational surface of real processes on the real embedded broker.

One worker (per-agent metrics on) routes a little traffic of every kind, and one
ingest gateway publishes a webhook; then their scrapes go through
``promtool check metrics``, their health endpoints and JSON logs are checked,
``deskroute report`` reads the outcome topics, and every metric name the alert
rules and the dashboard use must be one of these scrapes'.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
import time

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import parse_gateway_config
from schemas.events import (
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    TicketAssigned,
    TicketQueued,
    WorkFinished,
)
from streams import topics
from streams.broker import free_port
from tests.deploy.test_deploy import dashboard_metric_names, exported_names, rule_metric_names
from tests.deploy.tools import run
from tests.support import (
    ROOT,
    Cluster,
    Outputs,
    config_from,
    eventually,
    http_get,
    metric_value,
)

pytestmark = pytest.mark.broker

TENANT = "acme"
CONFIG = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load, offer_timeout: {chat: 0, call: 0}}
  - {id: sales, strategy: round-robin, offer_timeout: {chat: 0, call: 0}}
agents:
  - {id: ann, departments: [support], capacity: {email: 2, chat: 1, call: 1}}
  - {id: bob, departments: [support, sales], capacity: {email: 2, chat: 1}}
rules:
  - {name: pricing-chat, department: sales, when: {channel: chat, source: "chat:pricing"}}
"""
GATEWAY_YAML = """
tenants:
  acme:
    api_token: token-acme
"""


@dataclasses.dataclass
class Live:
    worker_metrics: str
    gateway_metrics: str
    live: tuple[int, str]
    ready: tuple[int, str]
    gateway_ready: tuple[int, str]
    worker_log: str
    report: str
    report_csv: str
    assigned: list[TicketAssigned]
    queued: list[TicketQueued]


def inbound(n: int, channel: str, source: str) -> tuple[str, InboundReceived]:
    ev = InboundReceived(
        f"ops-{n}",
        TENANT,
        channel,  # type: ignore[arg-type]
        source,
        f"conv-{n}",
        Customer("c1", email="secret.customer@example.org"),
        time.time(),
        text="my private message body",
    )
    return topics.INBOUND[channel], ev


def online(agent: str) -> tuple[str, AgentPresenceChanged]:
    return topics.AGENT_EVENTS, AgentPresenceChanged(
        f"on-{agent}", TENANT, agent, "online", time.time()
    )


def deskroute(cluster: Cluster, *args: str) -> str:
    env = {**os.environ, "KAFKA_BOOTSTRAP": cluster.broker.bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def scenario(cluster: Cluster) -> Live:
    await cluster.prepare(config_from(CONFIG))
    worker = cluster.start_worker()
    outputs = Outputs(cluster.settings)
    await outputs.start()
    try:
        await cluster.ready(worker)
        await cluster.send_all([online("ann"), online("bob")], TENANT.encode())
        # ann and bob take two emails each; the fifth waits; a chat and a call are answered.
        items = [inbound(i, "email", "email:help@acme.example") for i in range(5)]
        items += [inbound(10, "chat", "chat:pricing"), inbound(11, "call", "call:+1")]
        await cluster.send_all(items, TENANT.encode())
        await cluster.send_all([(topics.INBOUND["email"], b"not json")], TENANT.encode())
        await outputs.wait_for(TicketQueued, 1)
        first = await outputs.wait_for(TicketAssigned, 5)
        # Finishing one email lets the queued one be assigned after a measurable wait.
        done = next(a for a in first if a.channel == "email")
        finished = WorkFinished("fin-1", TENANT, done.agent_id, done.ticket_id, time.time())
        await cluster.send_all([(topics.AGENT_EVENTS, finished)], TENANT.encode())
        # Four emails, the chat and the call went straight to agents: the drained
        # email is the seventh assignment, the first one that waited.
        await eventually(
            lambda: any(a.waited_s > 0 for a in outputs.of(TicketAssigned)), 30, "drained email"
        )
        assigned = outputs.of(TicketAssigned)

        gw_port = free_port()
        gateway = Gateway(
            dataclasses.replace(cluster.settings, gateway_port=gw_port),
            parse_gateway_config(GATEWAY_YAML, "<test>"),
        )
        url = await gateway.start("127.0.0.1", gw_port)
        try:
            async with aiohttp.ClientSession() as http:
                auth = {"Authorization": "Bearer token-acme", "Content-Type": "application/json"}
                body = json.dumps(
                    {"type": "chat_started", "chat_id": "c-9", "visitor": {"id": "v1"}}
                )
                async with http.post(f"{url}/ingest/acme/chat", data=body, headers=auth) as r:
                    await r.read()
                async with http.post(f"{url}/ingest/acme/chat", data="{", headers=auth) as r:
                    await r.read()
                async with http.post(f"{url}/ingest/nobody/chat", data="{}", headers=auth) as r:
                    await r.read()
                async with http.get(f"{url}/metrics") as r:
                    gateway_metrics = await r.text()
                async with http.get(f"{url}/health/ready") as r:
                    gateway_ready = (r.status, await r.text())
        finally:
            await gateway.stop()

        await eventually(lambda: "deskroute_consumer_lag{" in worker.metrics(), 30, "lag series")
        worker_metrics = worker.metrics()
        live = http_get(f"{worker.web}/health/live")
        ready = http_get(f"{worker.web}/health/ready")
        queued = outputs.of(TicketQueued)
    finally:
        await outputs.stop()
    report = deskroute(cluster, "report", "--period", "day")
    report_csv = deskroute(cluster, "report", "--csv")
    worker.stop()
    return Live(
        worker_metrics,
        gateway_metrics,
        live,
        ready,
        gateway_ready,
        worker.log.read_text(errors="replace"),
        report,
        report_csv,
        assigned,
        queued,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Live:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESKROUTE_PER_AGENT_METRICS", "true")
        mp.setenv("DESKROUTE_QUEUE_SLA", "email=600,chat=60,call=30,sales/chat=30")
        with Cluster(tmp_path_factory.mktemp("ops")) as cluster:
            return asyncio.run(scenario(cluster))


def promtool_check_metrics(text: str) -> None:
    done = run("promtool", "check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )


def test_worker_scrape_passes_promtool(live: Live) -> None:
    promtool_check_metrics(live.worker_metrics)


def test_gateway_scrape_passes_promtool(live: Live) -> None:
    assert "deskroute_gateway_events_total{" in live.gateway_metrics
    promtool_check_metrics(live.gateway_metrics)


def test_worker_exports_the_designed_metrics(live: Live) -> None:
    text = live.worker_metrics
    for sample in (
        'deskroute_ingested_events_total{channel="email"}',
        'deskroute_deadlettered_events_total{reason="malformed_json"}',
        'deskroute_rule_matches_total{rule="pricing-chat"}',
        'deskroute_routed_tickets_total{department="support"}',
        'deskroute_assignments_total{channel="email",department="support",strategy="least-load"}',
        'deskroute_ingest_to_assign_seconds_bucket{channel="email",le="0.01"}',
        'deskroute_queue_wait_seconds_count{channel="email"}',
        'deskroute_queue_depth{channel="email",department="support",tenant="acme"}',
        'deskroute_queue_oldest_wait_seconds{channel="email",department="support",tenant="acme"}',
        'deskroute_queue_sla_seconds{channel="chat",department="sales",tenant="acme"} 30.0',
        'deskroute_queue_sla_seconds{channel="chat",department="support",tenant="acme"} 60.0',
        'deskroute_agents_available{channel="email",department="support",tenant="acme"}',
        'deskroute_agent_load{channel="email",department="support",tenant="acme"}',
        'deskroute_offers_total{channel="chat",outcome="timed_out"} 0.0',
        'deskroute_consumer_lag{partition="',
        'deskroute_config_version{tenant="acme"} 1.0',
        "deskroute_ready 1.0",
        'deskroute_agent_open_work{agent="ann",channel="email",tenant="acme"}',
        # The worker's consumer asks with the configured wait: nothing starved it.
        "deskroute_fetch_max_wait_seconds 0.01",
    ):
        assert sample in text, sample
    # The loop-lag probe runs (it wakes every 100 ms).
    assert metric_value(text, "deskroute_event_loop_lag_seconds_count") > 0
    # No label ever holds a ticket or customer id.
    assert "ops-" not in text and "c1" not in text


def test_health_endpoints(live: Live) -> None:
    assert live.live[0] == 200
    status, body = live.ready
    assert status == 200
    checks = json.loads(body)["checks"]
    assert checks == {
        "configs_loaded": True,
        "tables_recovered": True,
        "not_rebalancing": True,
        "partitions_assigned": True,
    }
    assert live.gateway_ready[0] == 200


def test_worker_logs_are_json_lines_without_customer_data(live: Live) -> None:
    lines = [line for line in live.worker_log.splitlines() if line.strip()]
    assert lines, "the worker wrote no log"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for r in records:
        assert {"time", "level", "logger", "message"} <= r.keys(), r
    assert any(r["logger"] == "deskroute.config" for r in records)
    dead = [r for r in records if r["message"] == "event dead-lettered"]
    assert dead and dead[0]["reason"] == "malformed_json" and dead[0]["topic"]
    queued = [r for r in records if r["message"] == "ticket queued"]
    assert queued and queued[0]["ticket_id"].startswith("ops-")
    assert (queued[0]["tenant"], queued[0]["department"]) == ("acme", "support")
    assert "secret.customer@example.org" not in live.worker_log
    assert "private message body" not in live.worker_log


def test_report_from_the_outcome_topics(live: Live) -> None:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    lines = live.report.splitlines()
    assert lines[0].startswith("tenant acme")
    support = next(line for line in lines if re.match(rf"{today}\s+support\s", line))
    created, assigned, queued, escalated, unroutable = map(int, support.split()[2:7])
    # 5 emails, 1 call and the gateway's chat to support; the pricing chat went to sales.
    assert (created, assigned, queued, escalated, unroutable) == (7, 7, 1, 0, 0)
    rows = [r.split(",") for r in live.report_csv.splitlines()]
    header = rows[0]
    by_dept = {r[header.index("department")]: r for r in rows[1:] if r[0] == "department"}
    assert by_dept["sales"][header.index("chats_answered")] == "1"
    assert by_dept["support"][header.index("calls_offered")] == "1"
    assert float(by_dept["support"][header.index("wait_p90_s")]) > 0
    agents = [r for r in rows[1:] if r[0] == "agent" and r[header.index("department")] == "support"]
    assert sum(int(r[header.index("assignments")]) for r in agents) == 7
    assert abs(sum(float(r[header.index("share")]) for r in agents) - 1.0) < 0.01


def test_alerts_and_dashboard_use_only_exported_metrics(live: Live) -> None:
    exported = exported_names(live.worker_metrics) | exported_names(live.gateway_metrics)
    used = rule_metric_names() | dashboard_metric_names()
    assert used, "no metric names found in the rules and the dashboard"
    missing = sorted(used - exported - {"up"})
    assert not missing, f"used but not exported: {missing}"


def test_chat_payload_used_by_the_gateway_test_is_valid() -> None:
    """Guards the scenario above: the chat widget's payload it posts is accepted."""
    from adapters import Context, Parsed, parse

    body = json.dumps({"type": "chat_started", "chat_id": "c-9", "visitor": {"id": "v1"}})
    assert isinstance(parse("chat", body.encode(), Context(tenant="acme")), Parsed)
