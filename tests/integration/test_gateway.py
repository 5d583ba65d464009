"""The ingest gateway over real HTTP against the real embedded broker.

A 2xx must mean "stored in Kafka": these tests read the records back from the
topics, stop the broker to see 503, and run a worker to see that a retried
webhook makes one ticket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from adapters.signatures import meta_signature, twilio_signature, viber_signature, x_crc_response
from gateway.app import Gateway
from gateway.config import parse_gateway_config
from schemas.events import EventDeadLettered, InboundReceived, TicketAssigned, TicketQueued
from streams import topics
from streams.broker import free_port
from streams.settings import Settings
from tests.support import Cluster, Outputs, config_from, eventually, metric_value

pytestmark = pytest.mark.broker

GATEWAY_YAML = """
tenants:
  acme:
    api_token: token-acme
    mailboxes: [help@acme.example]
    facebook: {app_secret: fb-secret, verify_token: fb-verify}
    viber: {auth_token: viber-token}
    twitter: {consumer_secret: x-secret}
    twilio: {auth_token: twilio-token}
  quiet:
    api_token: token-quiet
"""
TENANT_YAML = """
tenant: acme
default_department: support
departments:
  - {id: support, strategy: least-load}
agents:
  - {id: ann, departments: [support], capacity: {email: 2, social: 2, chat: 1, call: 1}}
"""
JSON = {"Content-Type": "application/json"}


def viber_message(token: int, text: str = "Hello from Viber") -> bytes:
    return orjson.dumps(
        {
            "event": "message",
            "timestamp": 1_700_000_000_000,
            "message_token": token,
            "sender": {"id": "viber-user-1", "name": "Ada"},
            "message": {"type": "text", "text": text},
        }
    )


def messenger(mid: str) -> bytes:
    item = {
        "sender": {"id": "psid-9"},
        "recipient": {"id": "page-1"},
        "timestamp": 1_700_000_000_000,
        "message": {"mid": mid, "text": "Where is my parcel?"},
    }
    return orjson.dumps({"object": "page", "entry": [{"id": "page-1", "messaging": [item]}]})


def signed_viber(body: bytes) -> dict[str, str]:
    return {**JSON, "X-Viber-Content-Signature": viber_signature("viber-token", body)}


def signed_meta(body: bytes) -> dict[str, str]:
    return {**JSON, "X-Hub-Signature-256": meta_signature("fb-secret", body)}


class Inbound(Outputs):
    """Reads what the gateway wrote: inbound topics and dead letters."""

    TOPICS = (topics.INBOUND["social"], topics.INBOUND["call"], topics.DEADLETTER)

    def ids(self, topic: str) -> list[str]:
        return [
            v.event_id for t, v in self.records if t == topic and isinstance(v, InboundReceived)
        ]


@asynccontextmanager
async def gateway_on(settings: Settings, **overrides: Any) -> AsyncIterator[tuple[Gateway, str]]:
    settings = dataclasses.replace(settings, gateway_port=free_port(), **overrides)
    gw = Gateway(settings, parse_gateway_config(GATEWAY_YAML))
    url = await gw.start("127.0.0.1")
    try:
        yield gw, url
    finally:
        await gw.stop()


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any], Any]:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), orjson.loads(await resp.read())


def test_signed_webhooks_are_stored_and_bad_ones_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT_YAML))
            reader = Inbound(cluster.settings)
            await reader.start()
            small = {"gateway_max_body_bytes": 64 * 1024}
            async with (
                gateway_on(cluster.settings, **small) as (_, gw),
                aiohttp.ClientSession() as http,
            ):
                viber = f"{gw}/ingest/acme/viber"
                body = viber_message(101)
                status, _, answer = await post(http, viber, body, signed_viber(body))
                assert status == 200, answer
                assert answer == {
                    "status": "published",
                    "published": 1,
                    "event_ids": ["viber:101"],
                    "skipped": [],
                }
                # 200 came after the broker's ack: the record is there, keyed by tenant.
                social = topics.INBOUND["social"]
                ((_, event),) = await eventually(
                    lambda: [r for r in reader.records if r[0] == social]
                )
                assert (event.event_id, event.tenant, event.text) == (
                    "viber:101",
                    "acme",
                    "Hello from Viber",
                )

                # Bad and missing signatures: refused, counted, nothing published.
                bad = viber_message(102)
                status, _, answer = await post(
                    http, viber, bad, {**JSON, "X-Viber-Content-Signature": "00" * 32}
                )
                assert (status, answer["error"]) == (403, "invalid_signature")
                status, _, answer = await post(http, viber, bad, JSON)
                assert (status, answer["error"]) == (401, "missing_signature")
                tampered = viber_message(103, "changed in transit")
                status, _, _ = await post(http, viber, tampered, signed_viber(body))
                assert status == 403

                # Meta: signature over the raw body, batch in, events out.
                fb = messenger("m-1")
                status, _, answer = await post(
                    http, f"{gw}/ingest/acme/facebook", fb, signed_meta(fb)
                )
                assert (status, answer["event_ids"]) == (200, ["facebook:m-1"])

                # Twilio: form callback signed over URL + sorted params; missed call -> callback ticket.
                form = b"CallSid=CA77&CallStatus=no-answer&From=%2B15550111&To=%2B15550100&Direction=inbound"
                sig = twilio_signature(
                    "twilio-token",
                    f"{gw}/ingest/acme/call",
                    [
                        ("CallSid", "CA77"),
                        ("CallStatus", "no-answer"),
                        ("From", "+15550111"),
                        ("To", "+15550100"),
                        ("Direction", "inbound"),
                    ],
                )
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": sig,
                }
                status, _, answer = await post(http, f"{gw}/ingest/acme/call", form, headers)
                assert (status, answer["event_ids"]) == (200, ["call:CA77:callback"])
                done = form.replace(b"no-answer", b"completed")
                sig = twilio_signature(
                    "twilio-token",
                    f"{gw}/ingest/acme/call",
                    [
                        ("CallSid", "CA77"),
                        ("CallStatus", "completed"),
                        ("From", "+15550111"),
                        ("To", "+15550100"),
                        ("Direction", "inbound"),
                    ],
                )
                status, _, answer = await post(
                    http, f"{gw}/ingest/acme/call", done, {**headers, "X-Twilio-Signature": sig}
                )
                assert (status, answer["status"], answer["reason"]) == (
                    200,
                    "ignored",
                    "call_completed",
                )

                # Authentic but unparseable: 400, and the raw bytes go to the dead-letter topic.
                junk = b'{"event": "message", '
                status, _, answer = await post(http, viber, junk, signed_viber(junk))
                assert (status, answer["error"], answer["deadlettered"]) == (
                    400,
                    "malformed_json",
                    True,
                )
                dead = await eventually(
                    lambda: [v for _, v in reader.records if isinstance(v, EventDeadLettered)]
                )
                assert (dead[0].reason, dead[0].topic, dead[0].headers["x-deskroute-tenant"]) == (
                    "malformed_json",
                    "gateway:viber",
                    "acme",
                )
                assert "authorization" not in dead[0].headers

                # Nothing of the refused requests reached the topics.
                await eventually(lambda: len(reader.ids(topics.INBOUND["social"])) >= 2)
                await eventually(lambda: reader.ids(topics.INBOUND["call"]))
                assert reader.ids(topics.INBOUND["social"]) == ["viber:101", "facebook:m-1"]
                assert reader.ids(topics.INBOUND["call"]) == ["call:CA77:callback"]

                await check_limits(http, gw)
                await check_handshakes_and_docs(http, gw)
            await reader.stop()

    asyncio.run(scenario())


async def check_limits(http: aiohttp.ClientSession, gw: str) -> None:
    body = viber_message(1)
    status, _, answer = await post(http, f"{gw}/ingest/nobody/viber", body, signed_viber(body))
    assert (status, answer["error"]) == (404, "unknown_tenant")
    status, _, answer = await post(http, f"{gw}/ingest/quiet/viber", body, signed_viber(body))
    assert (status, answer["error"]) == (404, "channel_not_configured")
    status, _, answer = await post(
        http, f"{gw}/ingest/acme/viber", body, {"Content-Type": "text/plain"}
    )
    assert (status, answer["error"]) == (415, "unsupported_media_type")
    big = b"x" * (65 * 1024)
    status, _, answer = await post(http, f"{gw}/ingest/acme/viber", big, signed_viber(big))
    assert (status, answer["error"]) == (413, "body_too_large")
    mail = b"From: a@b.example\r\nSubject: hi\r\n\r\nhello"
    rfc822 = {"Content-Type": "message/rfc822"}
    status, _, answer = await post(http, f"{gw}/ingest/acme/email", mail, rfc822)
    assert (status, answer["error"]) == (401, "missing_token")
    status, _, answer = await post(
        http, f"{gw}/ingest/acme/email", mail, {**rfc822, "Authorization": "Bearer token-quiet"}
    )
    assert (status, answer["error"]) == (403, "invalid_token")
    auth = {**rfc822, "Authorization": "Bearer token-acme", "X-Envelope-To": "help@acme.example"}
    status, _, answer = await post(http, f"{gw}/ingest/acme/email", mail, auth)
    assert status == 200 and answer["event_ids"][0].startswith("email:sha256:")
    status, _, answer = await post(http, f"{gw}/ingest/acme/email", b"no headers at all", auth)
    assert (status, answer["error"]) == (400, "not_rfc822")
    bad_utf8 = b'{"type": "chat_started", "chat_id": "\xff"}'
    chat = {**JSON, "Authorization": "Bearer token-acme"}
    status, _, answer = await post(http, f"{gw}/ingest/acme/chat", bad_utf8, chat)
    assert (status, answer["error"]) == (400, "invalid_utf8")
    status, _, answer = await post(
        http, f"{gw}/ingest/acme/chat", b'{"type": "chat_started"}', chat
    )
    assert (status, answer["error"]) == (422, "missing_field")
    async with http.get(f"{gw}/nowhere") as resp:
        assert resp.status == 404 and (await resp.json())["error"] == "not_found"


async def check_handshakes_and_docs(http: aiohttp.ClientSession, gw: str) -> None:
    q = {"hub.mode": "subscribe", "hub.verify_token": "fb-verify", "hub.challenge": "1158201444"}
    async with http.get(f"{gw}/ingest/acme/facebook", params=q) as resp:
        assert (resp.status, await resp.text()) == (200, "1158201444")
    async with http.get(
        f"{gw}/ingest/acme/facebook", params={**q, "hub.verify_token": "no"}
    ) as resp:
        assert resp.status == 403
    async with http.get(f"{gw}/ingest/acme/twitter", params={"crc_token": "abc"}) as resp:
        assert (resp.status, await resp.json()) == (200, x_crc_response("x-secret", "abc"))
    async with http.get(f"{gw}/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"].startswith("3.") and "/ingest/{tenant}/viber" in doc["paths"]
    async with http.get(f"{gw}/metrics") as resp:
        text = await resp.text()
    assert metric_value(text, "deskroute_gateway_signature_failures_total", channel="viber") == 3
    assert (
        metric_value(text, "deskroute_gateway_events_total", channel="viber", outcome="published")
        == 1
    )
    assert metric_value(text, "deskroute_gateway_requests_total", route="viber", outcome="4xx") >= 4
    assert metric_value(text, "deskroute_gateway_publish_seconds_count") >= 3
    async with http.get(f"{gw}/health/ready") as resp:
        assert resp.status == 200


def test_broker_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        nowhere = Settings(
            kafka_bootstrap=f"127.0.0.1:{free_port()}", gateway_publish_timeout_s=2.0
        )
        async with gateway_on(nowhere) as (_, gw), aiohttp.ClientSession() as http:
            body = viber_message(7)
            status, headers, answer = await post(
                http, f"{gw}/ingest/acme/viber", body, signed_viber(body)
            )
            assert (status, answer["error"], headers["Retry-After"]) == (
                503,
                "broker_unavailable",
                "5",
            )
            async with http.get(f"{gw}/health/ready") as resp:
                assert resp.status == 503
            async with http.get(f"{gw}/health/live") as resp:
                assert resp.status == 200

        # A broker that goes away after the gateway connected: 503 within the publish timeout.
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT_YAML))
            async with (
                gateway_on(cluster.settings, gateway_publish_timeout_s=2.0) as (_, gw),
                aiohttp.ClientSession() as http,
            ):
                body = viber_message(8)
                status, _, _ = await post(http, f"{gw}/ingest/acme/viber", body, signed_viber(body))
                assert status == 200
                cluster.broker.stop()
                started = time.monotonic()
                body = viber_message(9)
                status, headers, answer = await post(
                    http, f"{gw}/ingest/acme/viber", body, signed_viber(body)
                )
                assert (status, answer["error"]) == (503, "broker_unavailable")
                assert "Retry-After" in headers and time.monotonic() - started < 10
                async with http.get(f"{gw}/health/ready") as resp:
                    assert resp.status == 503

    asyncio.run(scenario())


def test_retried_webhook_makes_one_ticket(tmp_path: Path) -> None:
    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT_YAML))
            worker = cluster.start_worker()
            await cluster.ready(worker)
            out = Outputs(cluster.settings)
            await out.start()
            try:
                async with gateway_on(cluster.settings) as (_, gw), aiohttp.ClientSession() as http:
                    url = f"{gw}/ingest/acme/facebook"
                    first = messenger("m-retry")
                    # The channel did not see our 200 (timeout) and delivers again.
                    for _ in range(2):
                        status, _, answer = await post(http, url, first, signed_meta(first))
                        assert (status, answer["event_ids"]) == (200, ["facebook:m-retry"])
                    # A later event on the same partition: once it is decided, so is the retry.
                    later = messenger("m-later")
                    status, _, _ = await post(http, url, later, signed_meta(later))
                    assert status == 200

                    def outcomes() -> list[Any]:
                        return out.of(TicketAssigned) + out.of(TicketQueued)

                    await eventually(
                        lambda: any(o.ticket_id == "facebook:m-later" for o in outcomes()),
                        30,
                        "m-later decided",
                    )
                    assert [o.ticket_id for o in outcomes()].count("facebook:m-retry") == 1
                    await eventually(
                        lambda: (
                            worker.metric("deskroute_duplicate_events_total", stage="assignment")
                            == 1
                        )
                    )
            finally:
                await out.stop()

    asyncio.run(scenario())
