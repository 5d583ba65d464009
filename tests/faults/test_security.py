"""Hostile requests and configs against the processes an operator runs.

The unit tests check each signature scheme and the in-process gateway checks the
common refusals; here the real ``deskroute ingest`` and ``deskroute worker``
processes (debug logging, the most they ever write) face forged and unsigned
webhooks on every route, tokens of another tenant, bodies over the cap with and
without ``Content-Length``, fields over their caps, rule configs that try to run
code, and then their logs, ``/metrics`` and every record they wrote are searched
for each secret they were given.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from adapters.signatures import meta_signature, twilio_signature, viber_signature, x_signature
from schemas.codec import encode
from schemas.events import (
    AgentPresenceChanged,
    Customer,
    EventDeadLettered,
    InboundReceived,
    TicketAssigned,
    TicketUnroutable,
)
from streams import topics
from tests.faults.harness import (
    Outputs,
    Undecodable,
    read_topic,
    say,
    spawn_gateway,
    start_worker_with,
    tenant_config,
)
from tests.integration.test_gateway import messenger, viber_message
from tests.support import ROOT, Cluster, eventually, http_get, metric_value

pytestmark = pytest.mark.broker

SECRETS = {
    "acme.api_token": "tok-acme-7Q2xZr9KpL",
    "acme.facebook.app_secret": "fbsec-acme-Vb81mXc",
    "acme.facebook.verify_token": "fbver-acme-Tq55Lw",
    "acme.instagram.app_secret": "igsec-acme-Jd30pQn",
    "acme.instagram.verify_token": "igver-acme-Rx19Ke",
    "acme.twitter.consumer_secret": "xsec-acme-Hh72Uo",
    "acme.viber.auth_token": "vbtok-acme-Ng44Sa",
    "acme.twilio.auth_token": "twtok-acme-Pz63Yd",
    "umbrella.api_token": "tok-umbrella-Wc08Fj",
}
GATEWAY = f"""
tenants:
  acme:
    api_token: {SECRETS["acme.api_token"]}
    facebook: {{app_secret: {SECRETS["acme.facebook.app_secret"]}, verify_token: {SECRETS["acme.facebook.verify_token"]}}}
    instagram: {{app_secret: {SECRETS["acme.instagram.app_secret"]}, verify_token: {SECRETS["acme.instagram.verify_token"]}}}
    twitter: {{consumer_secret: {SECRETS["acme.twitter.consumer_secret"]}}}
    viber: {{auth_token: {SECRETS["acme.viber.auth_token"]}}}
    twilio: {{auth_token: {SECRETS["acme.twilio.auth_token"]}}}
  umbrella:
    api_token: {SECRETS["umbrella.api_token"]}
"""
SASL_PASSWORD = "sasl-pw-Kf93nVb2Xq"
MAX_BODY = 64 * 1024
JSON = "application/json"


def chat_body(chat_id: str, text: str = "hi") -> bytes:
    return orjson.dumps(
        {"type": "chat_started", "chat_id": chat_id, "visitor": {"id": "v-1"}, "text": text}
    )


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, data=body, headers=headers) as resp:
        raw = await resp.read()
        return resp.status, (orjson.loads(raw) if raw[:1] == b"{" else {})


def secrets_in(text: str | bytes, secrets: dict[str, str]) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode()
    return [name for name, value in secrets.items() if value.encode() in data]


def test_gateway_refuses_forged_requests_caps_sizes_and_never_shows_a_secret(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(tenant_config("acme"))
            gw = spawn_gateway(
                tmp_path,
                cluster.broker.bootstrap,
                GATEWAY,
                DESKROUTE_LOG_LEVEL="debug",
                DESKROUTE_GATEWAY_MAX_BODY_BYTES=str(MAX_BODY),
            )
            try:
                await eventually(gw.ready, 30, "gateway ready")
                async with aiohttp.ClientSession() as http:
                    await forged_and_unsigned(http, gw.url)
                    await size_caps(http, gw.url)
                    metrics = http_get(f"{gw.url}/metrics")[1]
            finally:
                assert gw.stop() == 0, gw.log.read_text()[-2000:]
            records = []
            for topic in (*topics.INBOUND.values(), topics.DEADLETTER):
                records += await read_topic(cluster.settings, topic)
            written = b"".join(r.value or b"" for r in records)
            # Dead letters keep the refused body and headers: decoded, they are searched too.
            dead = b"".join(
                base64.b64decode(orjson.loads(r.value)["original_b64"])
                + orjson.dumps(orjson.loads(r.value)["headers"])
                for r in records
                if r.topic == topics.DEADLETTER
            )
            log = gw.log.read_text()
            leaks = {
                "gateway log (debug level)": secrets_in(log, SECRETS),
                "gateway /metrics": secrets_in(metrics, SECRETS),
                "records written to Kafka": secrets_in(written + dead, SECRETS),
            }
            say(
                f"searched {len(log.splitlines())} log lines, {len(metrics)} bytes of /metrics and"
                f" {len(written)} bytes of records for {len(SECRETS)} secrets: {leaks}"
            )
            assert not any(leaks.values()), leaks

    asyncio.run(scenario())


async def forged_and_unsigned(http: aiohttp.ClientSession, gw: str) -> None:
    """Every route, with no credentials, wrong ones, another tenant's, and a body
    changed after signing: 401 or 403, and nothing published."""
    body = viber_message(1)
    fb = messenger("m-1")
    tw = orjson.dumps({"for_user_id": "42", "direct_message_events": []})
    form = "CallSid=CA1&CallStatus=ringing&From=%2B15550111&To=%2B15550100"
    params = [tuple(p.split("=", 1)) for p in form.replace("%2B", "+").split("&")]
    wrong = "not-the-secret"
    cases: list[tuple[str, str, bytes, dict[str, str], int]] = [
        ("viber, unsigned", "viber", body, {}, 401),
        ("viber, signed with a wrong secret", "viber",
         body, {"X-Viber-Content-Signature": viber_signature(wrong, body)}, 403),
        ("viber, body changed after signing", "viber", viber_message(2),
         {"X-Viber-Content-Signature": viber_signature(SECRETS["acme.viber.auth_token"], body)}, 403),
        ("facebook, unsigned", "facebook", fb, {}, 401),
        ("facebook, wrong secret", "facebook",
         fb, {"X-Hub-Signature-256": meta_signature(wrong, fb)}, 403),
        ("facebook, instagram's secret", "facebook", fb,
         {"X-Hub-Signature-256": meta_signature(SECRETS["acme.instagram.app_secret"], fb)}, 403),
        ("instagram, unsigned", "instagram", fb, {}, 401),
        ("instagram, garbage signature", "instagram", fb, {"X-Hub-Signature-256": "sha256=zz"}, 403),
        ("twitter, unsigned", "twitter", tw, {}, 401),
        ("twitter, wrong secret", "twitter",
         tw, {"X-Twitter-Webhooks-Signature": x_signature(wrong, tw)}, 403),
        ("call, unsigned", "call", form.encode(), {}, 401),
        ("call, signed for another URL", "call", form.encode(), {"X-Twilio-Signature":
         twilio_signature(SECRETS["acme.twilio.auth_token"], "https://evil.example/hook", params)}, 403),  # type: ignore[arg-type]
        ("chat, no token", "chat", chat_body("c-1"), {}, 401),
        ("chat, another tenant's token", "chat", chat_body("c-1"),
         {"Authorization": f"Bearer {SECRETS['umbrella.api_token']}"}, 403),
        ("chat, basic auth instead of a token", "chat", chat_body("c-1"),
         {"Authorization": "Basic " + base64.b64encode(b"acme:x").decode()}, 401),
        ("canonical, wrong token", "canonical",
         encode(InboundReceived("e1", "acme", "email", "s", "c", Customer("c"), 1.0)),
         {"Authorization": "Bearer tok-acme-7Q2xZr9KpM"}, 403),
        ("email, no token", "email", b"From: a@b.example\r\n\r\nhi", {}, 401),
    ]  # fmt: skip
    types = {"email": "message/rfc822", "call": "application/x-www-form-urlencoded"}
    for what, route, data, headers, expected in cases:
        content_type = types.get(route, JSON)
        status, answer = await post(
            http, f"{gw}/ingest/acme/{route}", data, {"Content-Type": content_type, **headers}
        )
        assert status == expected, (what, status, answer)
    # A tenant's valid token does not open another tenant's routes.
    status, _ = await post(
        http,
        f"{gw}/ingest/umbrella/chat",
        chat_body("c-2"),
        {"Content-Type": JSON, "Authorization": f"Bearer {SECRETS['acme.api_token']}"},
    )
    assert status == 403
    # Handshakes: a wrong verify token gets 403, never the challenge back.
    async with http.get(
        f"{gw}/ingest/acme/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": wrong, "hub.challenge": "12345"},
    ) as resp:
        assert resp.status == 403 and "12345" not in await resp.text()
    text = http_get(f"{gw}/metrics")[1]
    refused = metric_value(text, "deskroute_gateway_signature_failures_total")
    published = metric_value(text, "deskroute_gateway_events_total", outcome="published")
    assert refused == len(cases) + 2 and published == 0, (refused, published)
    say(
        f"verified: {len(cases) + 2} forged, unsigned or cross-tenant requests over 8 routes"
        " and a handshake refused with 401/403, counted, nothing published"
    )
    # The genuine ones still pass (their secrets are in play for the leak search).
    genuine = [
        ("viber", body, "X-Viber-Content-Signature",
         viber_signature(SECRETS["acme.viber.auth_token"], body)),
        ("facebook", fb, "X-Hub-Signature-256",
         meta_signature(SECRETS["acme.facebook.app_secret"], fb)),
    ]  # fmt: skip
    for route, data, header, signature in genuine:
        status, answer = await post(
            http, f"{gw}/ingest/acme/{route}", data, {"Content-Type": JSON, header: signature}
        )
        assert status == 200, (route, answer)


async def size_caps(http: aiohttp.ClientSession, gw: str) -> None:
    """Bodies over the cap get 413 whether or not they announce their length; ids
    and texts over their caps are refused (dead-lettered) or cut, never stored whole."""
    token = {"Authorization": f"Bearer {SECRETS['acme.api_token']}"}
    big = chat_body("c-big", "x" * MAX_BODY)
    status, answer = await post(
        http, f"{gw}/ingest/acme/chat", big, {"Content-Type": JSON, **token}
    )
    assert (status, answer.get("error")) == (413, "body_too_large"), answer

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 1024 + 8):
            yield b" " * 1024

    status, answer = await post(
        http, f"{gw}/ingest/acme/chat", chunks(), {"Content-Type": JSON, **token}
    )
    assert status == 413, ("chunked body without Content-Length", status, answer)
    status, answer = await post(
        http, f"{gw}/ingest/acme/chat", chat_body("c" * 600), {"Content-Type": JSON, **token}
    )
    assert (status, answer.get("error"), answer.get("deadlettered")) == (
        422,
        "invalid_field",
        True,
    ), answer
    long_text = chat_body("c-long", "y" * 60_000)
    status, answer = await post(
        http, f"{gw}/ingest/acme/chat", long_text, {"Content-Type": JSON, **token}
    )
    assert status == 200, answer
    say(
        f"verified: {MAX_BODY + 1}+ byte bodies get 413 (with and without Content-Length),"
        " a 600-character id gets 422 and is dead-lettered, a long text is accepted"
    )


def test_worker_never_shows_credentials_and_rule_configs_cannot_run_code(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    python_tags = [
        f'tenant: !!python/object/apply:os.system ["touch {marker}"]\ndepartments:\n  - id: d\n',
        f'tenant: acme\ndepartments:\n  - id: !!python/object/new:subprocess.Popen [["touch", "{marker}"]]\n',
        "tenant: !!python/name:os.system\ndepartments:\n  - id: d\n",
    ]
    # A config whose texts look like templates, shell and env expansions: all inert.
    inert = f"""
tenant: acme
default_department: support
departments:
  - {{id: support, strategy: least-load}}
agents:
  - {{id: a1, departments: [support], capacity: {{email: 50}}}}
rules:
  - name: "{{{{ 7*7 }}}}"
    if: [{{field: subject, op: contains, value: "{{{{ 7*7 }}}}"}}]
    actions: [{{drop: "{{{{ config.__class__.__init__.__globals__ }}}} $(touch {marker}) ${{HOME}} %(x)s {{0}}"}}]
"""

    def run_all(commands: list[tuple[list[str], dict[str, str]]]) -> list[tuple[int, str]]:
        """``deskroute`` commands side by side; (exit code, output) of each."""
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "streams.cli", *args],
                cwd=ROOT,
                env={**os.environ, "KAFKA_BOOTSTRAP": cluster.broker.bootstrap, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            for args, env in commands
        ]
        outputs = [p.communicate(timeout=60)[0] for p in procs]
        return [(p.returncode, out) for p, out in zip(procs, outputs, strict=True)]

    async def scenario() -> None:
        await cluster.prepare(tenant_config("acme"))
        env = {
            "DESKROUTE_LOG_LEVEL": "debug",
            "DESKROUTE_KAFKA_SASL_USERNAME": "deskroute",
            "DESKROUTE_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
        }
        worker = start_worker_with(cluster, "worker-plaintext", **env)
        commands: list[tuple[list[str], dict[str, str]]] = []
        for i, text in enumerate(python_tags):
            path = tmp_path / f"tagged-{i}.yaml"
            path.write_text(text)
            commands.append((["config", "validate", str(path)], {}))
            commands.append((["config", "apply", str(path), "--version", "9"], {}))
        gateway_cfg = tmp_path / "gateway-tagged.yaml"
        gateway_cfg.write_text(f'tenants: !!python/object/apply:os.system ["touch {marker}"]\n')
        commands.append((["ingest"], {"DESKROUTE_GATEWAY_CONFIG": str(gateway_cfg)}))
        inert_path = tmp_path / "inert.yaml"
        inert_path.write_text(inert)
        commands.append((["config", "apply", str(inert_path), "--version", "2"], {}))
        *refusals, (applied, applied_out) = run_all(commands)
        expected = [1] * (2 * len(python_tags)) + [2]
        assert [code for code, _ in refusals] == expected, refusals
        assert not marker.exists()
        say(
            f"verified: {len(python_tags)} tenant configs and a gateway config with"
            " !!python tags refused by config validate / config apply / ingest; nothing ran"
        )
        assert applied == 0, applied_out
        await cluster.ready(worker)
        await eventually(
            lambda: worker.metric("deskroute_config_version", tenant="acme") == 2,
            30,
            "the config with templates in force",
        )
        out = Outputs(cluster.settings)
        await out.start()
        try:
            now = time.time()
            template = "{{ 7*7 }} please help"
            await cluster.send_all(
                [
                    (topics.AGENT_EVENTS, AgentPresenceChanged("p1", "acme", "a1", "online", now)),
                    *(
                        (
                            topics.INBOUND["email"],
                            InboundReceived(
                                ticket_id, "acme", "email", "s", "c", Customer("c"), now,
                                subject=subject,
                            ),
                        )
                        for ticket_id, subject in (("tpl", template), ("plain", "49 please help"))
                    ),
                    (
                        topics.INBOUND["email"],
                        InboundReceived(
                            "long", "acme", "email", "s", "c", Customer("c"), now,
                            text="z" * 250_000,
                        ),
                    ),
                ],
                b"acme",
            )  # fmt: skip
            (dropped,) = await out.wait_for(TicketUnroutable, 1)
            (assigned,) = await out.wait_for(TicketAssigned, 1)
            (dead,) = await eventually(
                lambda: [
                    e for _, e in out.records if isinstance(e, EventDeadLettered | Undecodable)
                ],
                30,
                "the dead letter of the 250,000-character text",
            )
            # (Read as plain JSON: whether deskroute's codec can read such a dead letter
            # back is test_poison's concern.)
            dead_fields = (
                dead.fields if isinstance(dead, Undecodable) else orjson.loads(encode(dead))
            )
            assert dropped.ticket_id == "tpl" and assigned.ticket_id == "plain"
            assert "{{ config.__class__.__init__.__globals__ }}" in dropped.reason
            assert f"$(touch {marker}) ${{HOME}}" in dropped.reason, dropped.reason
            original = orjson.loads(base64.b64decode(dead_fields["original_b64"]))
            assert (dead_fields["reason"], original["event_id"]) == ("oversize", "long")
            assert not marker.exists()
            say(
                "verified: templates, $(...) and ${...} in rules match and read literally"
                f" (drop reason {dropped.reason[:60]!r}...), a 250,000-character text is"
                " dead-lettered as oversize"
            )
            metrics = worker.metrics()
        finally:
            await out.stop()
        worker.stop()

        # The same credentials on a SASL connection the broker refuses: the worker
        # keeps trying (it does not exit) and never writes the password either.
        sasl = start_worker_with(
            cluster, "worker-sasl", **env, DESKROUTE_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT"
        )
        await eventually(
            lambda: "SaslHandShake" in sasl.log.read_text(), 30, "a SASL handshake attempt"
        )
        assert sasl.proc.poll() is None, sasl.log_tail()
        sasl.stop()
        logs = {w.log.name: w.log.read_text() for w in (worker, sasl)}
        leaks = {name: SASL_PASSWORD in text for name, text in logs.items()}
        leaks["worker /metrics"] = SASL_PASSWORD in metrics
        say(
            f"searched {sum(len(t.splitlines()) for t in logs.values())} debug log lines of a"
            f" PLAINTEXT and a SASL worker and /metrics for the SASL password: {leaks}"
        )
        assert not any(leaks.values()), leaks

    with Cluster(tmp_path) as cluster:
        asyncio.run(scenario())
