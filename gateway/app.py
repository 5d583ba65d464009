"""The ingest gateway's HTTP app: authenticate, adapt, publish, and only then answer 2xx.

Every answer is JSON (errors name their reason); every request is counted by
route and status class. The order of checks is the cheap ones first: route and
tenant, content type and size, credentials, and only then parsing and Kafka.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapters import ADAPTERS, Context, Parsed, Rejected, signatures
from gateway import auth, metrics
from gateway.config import GatewayConfig, TenantSecrets
from gateway.deadletter import dead_letter
from gateway.openapi import document
from gateway.publisher import BrokerUnavailable, Publisher
from streams.settings import Settings

log = logging.getLogger("deskroute.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON = "application/json"
CONTENT_TYPES: dict[str, str] = {
    name: "message/rfc822"
    if name == "email"
    else "application/x-www-form-urlencoded"
    if name == "call"
    else JSON
    for name in ADAPTERS
}
#: Rejections of the body's syntax answer 400; the rest (valid syntax, unusable content) 422.
SYNTAX_REASONS = {
    "empty",
    "malformed_json",
    "invalid_utf8",
    "not_an_object",
    "malformed_form",
    "not_rfc822",
    "oversize",
}
#: Parse raw mail this large off the event loop.
_THREAD_BYTES = 64 * 1024
_HTTP_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)


def error(status: int, reason: str, detail: str, **extra: Any) -> web.Response:
    headers = extra.pop("headers", None)
    return json_response({"error": reason, "detail": detail, **extra}, status, headers)


class Gateway:
    """The app plus its publisher; ``start``/``stop`` serve it on a host and port."""

    def __init__(
        self, settings: Settings, config: GatewayConfig, publisher: Publisher | None = None
    ) -> None:
        self.settings = settings
        self.config = config
        self.publisher = publisher or Publisher(settings)
        self.app = self._build()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        await self.publisher.connect()  # a broker that is down now is retried by watch()
        self.publisher.watch()
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        host = host or self.settings.gateway_host
        port = port or self.settings.gateway_port
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{port}"
        log.info("gateway listening", extra={"url": self.url, "tenants": len(self.config.tenants)})
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.publisher.stop()

    def _build(self) -> web.Application:
        app = web.Application(
            client_max_size=self.settings.gateway_max_body_bytes, middlewares=[self._errors]
        )
        r = app.router
        r.add_get("/health/live", self._live, name="health")
        r.add_get("/health/ready", self._ready, name="ready")
        r.add_get("/metrics", self._metrics, name="metrics")
        r.add_get("/openapi.json", self._openapi, name="openapi")
        for name in ADAPTERS:
            r.add_post(f"/ingest/{{tenant}}/{name}", self._ingest_handler(name), name=name)
        for name in ("facebook", "instagram"):
            r.add_get(
                f"/ingest/{{tenant}}/{name}", self._meta_handshake(name), name=f"{name}-verify"
            )
        r.add_get("/ingest/{tenant}/twitter", self._crc, name="twitter-crc")
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "unmatched"
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            reason = _HTTP_REASONS.get(exc.status, f"http_{exc.status}")
            response = error(exc.status, reason, exc.reason)
        except Exception:
            log.exception("request failed", extra={"route": route})
            response = error(500, "internal_error", "the gateway failed; nothing was acknowledged")
        metrics.REQUESTS.labels(route, f"{response.status // 100}xx").inc()
        return response

    async def _live(self, request: web.Request) -> web.Response:
        return json_response({"status": "live"})

    async def _ready(self, request: web.Request) -> web.Response:
        if self.publisher.ready:
            return json_response({"status": "ready"})
        return self._unavailable("not connected to the broker")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _openapi(self, request: web.Request) -> web.Response:
        return json_response(document())

    def _unavailable(self, detail: str) -> web.Response:
        retry = str(self.settings.gateway_retry_after_s)
        return error(503, "broker_unavailable", detail, headers={"Retry-After": retry})

    def _tenant(self, request: web.Request) -> TenantSecrets | web.Response:
        name = request.match_info["tenant"]
        tenant = self.config.tenants.get(name)
        if tenant is None:
            return error(404, "unknown_tenant", f"tenant {name!r} is not served by this gateway")
        return tenant

    def _ingest_handler(self, name: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            return await self._ingest(name, request)

        return handle

    async def _ingest(self, name: str, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        if isinstance(tenant, web.Response):
            return tenant
        expected = CONTENT_TYPES[name]
        if request.content_type != expected:
            given = request.headers.get("Content-Type", "(none)")
            return error(
                415, "unsupported_media_type", f"Content-Type {given!r}; {name} takes {expected}"
            )
        limit = self.settings.gateway_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return error(413, "body_too_large", f"{request.content_length} bytes > limit {limit}")
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        url = (
            self.config.public_url + request.path_qs if self.config.public_url else str(request.url)
        )
        denied = auth.check(name, tenant, headers, body, url)
        if denied is not None:
            if denied.status in (401, 403):
                metrics.SIGNATURE_FAILURES.labels(name, denied.reason).inc()
            log.warning(
                "request refused",
                extra={"route": name, "tenant": tenant.tenant, "reason": denied.reason},
            )
            return error(denied.status, denied.reason, denied.detail)
        ctx = Context(tenant.tenant, headers, time.time(), tenant.mailboxes)
        adapter = ADAPTERS[name]
        if len(body) > _THREAD_BYTES:
            result = await asyncio.to_thread(adapter, body, ctx)
        else:
            result = adapter(body, ctx)
        try:
            if isinstance(result, Rejected):
                return await self._rejected(name, tenant.tenant, body, headers, result)
            return await self._publish(name, tenant.tenant, body, headers, result)
        except BrokerUnavailable as exc:
            metrics.EVENTS.labels(name, "unavailable").inc()
            return self._unavailable(str(exc))

    async def _rejected(
        self, name: str, tenant: str, body: bytes, headers: dict[str, str], result: Rejected
    ) -> web.Response:
        extra = {"route": name, "tenant": tenant, "reason": result.reason}
        if result.ignored:
            metrics.EVENTS.labels(name, "ignored").inc()
            log.info("payload ignored", extra=extra)
            return json_response(
                {"status": "ignored", "reason": result.reason, "detail": result.detail}
            )
        await self.publisher.dead_letter(
            dead_letter(name, tenant, body, headers, result), tenant.encode()
        )
        metrics.EVENTS.labels(name, "rejected").inc()
        metrics.DEADLETTERED.labels(result.reason).inc()
        log.info("payload rejected", extra=extra)
        status = 400 if result.reason in SYNTAX_REASONS else 422
        return error(status, result.reason, result.detail, deadlettered=True)

    async def _publish(
        self, name: str, tenant: str, body: bytes, headers: dict[str, str], result: Parsed
    ) -> web.Response:
        await self.publisher.publish(result.events)
        invalid = [s for s in result.skipped if not s.ignored]
        if invalid:
            # Keep the whole batch: its good items are published, the bad ones are not lost.
            first = invalid[0]
            summary = Rejected(
                first.reason, f"{len(invalid)} item(s) of the batch; first: {first.detail}"
            )
            await self.publisher.dead_letter(
                dead_letter(name, tenant, body, headers, summary), tenant.encode()
            )
            metrics.DEADLETTERED.labels(first.reason).inc()
            metrics.EVENTS.labels(name, "rejected").inc(len(invalid))
        metrics.EVENTS.labels(name, "published").inc(len(result.events))
        ignored = len(result.skipped) - len(invalid)
        if ignored:
            metrics.EVENTS.labels(name, "ignored").inc(ignored)
        return json_response(
            {
                "status": "published",
                "published": len(result.events),
                "event_ids": [e.event_id for e in result.events],
                "skipped": [
                    {"reason": s.reason, "detail": s.detail, "ignored": s.ignored}
                    for s in result.skipped
                ],
            }
        )

    def _meta_handshake(self, name: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            tenant = self._tenant(request)
            if isinstance(tenant, web.Response):
                return tenant
            token = tenant.secret(name, "verify_token")
            if not token:
                return error(
                    404, "channel_not_configured", f"{name} is not enabled for this tenant"
                )
            q = request.query
            given = q.get("hub.verify_token", "")
            if q.get("hub.mode") != "subscribe" or not hmac.compare_digest(
                given.encode(), token.encode()
            ):
                metrics.SIGNATURE_FAILURES.labels(name, "invalid_verify_token").inc()
                return error(403, "invalid_verify_token", "hub.mode or hub.verify_token is wrong")
            challenge = q.get("hub.challenge", "")
            if not challenge:
                return error(400, "missing_challenge", "hub.challenge is required")
            return web.Response(text=challenge, content_type="text/plain")

        return handle

    async def _crc(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        if isinstance(tenant, web.Response):
            return tenant
        secret = tenant.secret("twitter", "consumer_secret")
        if not secret:
            return error(404, "channel_not_configured", "twitter is not enabled for this tenant")
        crc = request.query.get("crc_token", "")
        if not crc:
            return error(400, "missing_crc_token", "crc_token is required")
        return json_response(signatures.x_crc_response(secret, crc))
