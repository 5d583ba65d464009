"""The OpenAPI 3 description of the gateway's routes, served at ``/openapi.json``.

Hand-written so that it says what the routes mean (who signs what, when a 2xx
is given); a test checks that it lists exactly the routes the app serves.
"""

from __future__ import annotations

from typing import Any

from adapters.chat import CHAT_EVENTS

_TENANT = {
    "name": "tenant",
    "in": "path",
    "required": True,
    "description": "Routing domain; must be listed in the gateway config.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
}

#: Route -> (summary, request media type, how it is authenticated).
_INGEST: dict[str, tuple[str, str, str]] = {
    "email": (
        "One raw email (RFC 5322 / MIME). Optional X-Envelope-To names the receiving mailbox.",
        "message/rfc822",
        "bearer",
    ),
    "facebook": ("Messenger webhook (object: page).", "application/json", "X-Hub-Signature-256"),
    "instagram": (
        "Instagram messaging webhook (object: instagram).",
        "application/json",
        "X-Hub-Signature-256",
    ),
    "twitter": (
        "X Account Activity webhook (direct_message_events, tweet_create_events).",
        "application/json",
        "x-twitter-webhooks-signature",
    ),
    "viber": (
        "Viber bot callback (event: message).",
        "application/json",
        "X-Viber-Content-Signature",
    ),
    "chat": (
        f"Live-chat widget event ({', '.join(CHAT_EVENTS)}); schema below.",
        "application/json",
        "bearer",
    ),
    "call": (
        "Twilio voice status callback (CallStatus ringing/in-progress route a call, "
        "no-answer/busy/failed a callback ticket, completed is ignored).",
        "application/x-www-form-urlencoded",
        "X-Twilio-Signature",
    ),
    "canonical": (
        "InboundReceived as deskroute's codec encodes it; its tenant must be the path's.",
        "application/json",
        "bearer",
    ),
}


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry:
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answer


def _ingest(name: str) -> dict[str, Any]:
    summary, media, auth = _INGEST[name]
    schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if name == "chat":
        schema = {"$ref": "#/components/schemas/ChatEvent"}
    elif name == "canonical":
        schema = {"$ref": "#/components/schemas/InboundReceived"}
    elif media == "application/json":
        schema = {"type": "object"}
    operation: dict[str, Any] = {
        "operationId": f"ingest_{name}",
        "summary": summary,
        "parameters": [_TENANT],
        "requestBody": {"required": True, "content": {media: {"schema": schema}}},
        "responses": {
            "200": {
                "description": "Every event acknowledged by Kafka (acks=all), or a valid "
                "payload with nothing to route (status ignored).",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}
                },
            },
            "400": _error("Malformed body (JSON, form, UTF-8, MIME); dead-lettered."),
            "401": _error("Signature or bearer token missing."),
            "403": _error("Signature or bearer token wrong."),
            "404": _error("Unknown tenant, or the channel is not enabled for it."),
            "413": _error("Body larger than DESKROUTE_GATEWAY_MAX_BODY_BYTES."),
            "415": _error(f"Content-Type is not {media}."),
            "422": _error("Well-formed but unusable (missing field, wrong object); dead-lettered."),
            "503": _error("Kafka did not acknowledge: nothing stored, retry later.", retry=True),
        },
        "security": [{"bearer": []}] if auth == "bearer" else [{name: []}],
    }
    return operation


def _handshake(name: str) -> dict[str, Any]:
    if name == "twitter":
        params = [
            _TENANT,
            {"name": "crc_token", "in": "query", "required": True, "schema": {"type": "string"}},
        ]
        ok = {
            "description": "response_token = sha256=base64(HMAC-SHA256(consumer secret, crc_token))",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    else:
        params = [_TENANT] + [
            {"name": f"hub.{p}", "in": "query", "required": True, "schema": {"type": "string"}}
            for p in ("mode", "verify_token", "challenge")
        ]
        ok = {
            "description": "hub.challenge echoed",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    return {
        "operationId": f"verify_{name}",
        "summary": "Webhook verification handshake.",
        "parameters": params,
        "responses": {
            "200": ok,
            "400": _error("Handshake parameter missing."),
            "403": _error("Verify token wrong."),
            "404": _error("Unknown tenant or channel not enabled."),
        },
    }


def _plain(summary: str, media: str = "application/json") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": "OK", "content": {media: {}}}},
        }
    }


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "Stable machine reason."},
            "detail": {"type": "string"},
            "deadlettered": {"type": "boolean"},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["published", "ignored"]},
            "published": {"type": "integer"},
            "event_ids": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"},
            "skipped": {"type": "array", "items": {"type": "object"}},
        },
    },
    "ChatEvent": {
        "type": "object",
        "required": ["type", "chat_id"],
        "properties": {
            "type": {"type": "string", "enum": list(CHAT_EVENTS)},
            "v": {"type": "integer", "enum": [1]},
            "chat_id": {"type": "string"},
            "visitor": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "email": {"type": "string"},
                },
            },
            "button": {"type": "string"},
            "department": {"type": "string"},
            "message_id": {"type": "string"},
            "text": {"type": "string"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "page_url": {"type": "string"},
            "language": {"type": "string"},
            "occurred_at": {"type": "number", "description": "epoch seconds"},
        },
    },
    "InboundReceived": {
        "type": "object",
        "required": [
            "type",
            "event_id",
            "tenant",
            "channel",
            "source",
            "conversation_id",
            "customer",
            "received_at",
        ],
        "properties": {
            "type": {"type": "string", "enum": ["InboundReceived"]},
            "v": {"type": "integer", "enum": [1]},
            "event_id": {"type": "string"},
            "tenant": {"type": "string"},
            "channel": {"type": "string", "enum": ["email", "social", "chat", "call"]},
            "source": {"type": "string"},
            "conversation_id": {"type": "string"},
            "customer": {"type": "object", "required": ["id"]},
            "received_at": {"type": "number"},
            "subject": {"type": "string"},
            "text": {"type": "string"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "attributes": {"type": "object"},
        },
    },
}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name in _INGEST:
        item: dict[str, Any] = {"post": _ingest(name)}
        if name in ("facebook", "instagram", "twitter"):
            item["get"] = _handshake(name)
        paths[f"/ingest/{{tenant}}/{name}"] = item
    paths["/health/live"] = _plain("The process is up.")
    paths["/health/ready"] = _plain("Connected to Kafka (503 otherwise).")
    paths["/metrics"] = _plain("Prometheus metrics (deskroute_gateway_*).", "text/plain")
    paths["/openapi.json"] = _plain("This document.")
    schemes: dict[str, Any] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "The tenant's api_token."}
    }
    for name, (_, _, header) in _INGEST.items():
        if header != "bearer":
            schemes[name] = {"type": "apiKey", "in": "header", "name": header}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "deskroute ingest gateway",
            "version": "1",
            "description": "Channel payloads in; a 2xx means Kafka stored the canonical events.",
        },
        "paths": paths,
        "components": {"schemas": _SCHEMAS, "securitySchemes": schemes},
    }
