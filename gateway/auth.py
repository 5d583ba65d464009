"""Who may post to a route: each channel's signature scheme, or the tenant's API token.

Missing credentials answer 401 and wrong ones 403, both counted and logged
without the values; nothing of such a request is published or dead-lettered.
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from adapters import signatures
from gateway.config import TenantSecrets

#: Route -> (config section, secret key, signature header); None = Bearer api_token.
SCHEMES: dict[str, tuple[str, str, str] | None] = {
    "email": None,
    "chat": None,
    "canonical": None,
    "facebook": ("facebook", "app_secret", "x-hub-signature-256"),
    "instagram": ("instagram", "app_secret", "x-hub-signature-256"),
    "twitter": ("twitter", "consumer_secret", "x-twitter-webhooks-signature"),
    "viber": ("viber", "auth_token", "x-viber-content-signature"),
    "call": ("twilio", "auth_token", "x-twilio-signature"),
}


@dataclass(frozen=True, slots=True)
class Denied:
    status: int
    reason: str
    detail: str


def check(
    route: str, tenant: TenantSecrets, headers: Mapping[str, str], body: bytes, url: str
) -> Denied | None:
    """None when the request is authentic; otherwise the answer to give."""
    scheme = SCHEMES[route]
    if scheme is None:
        return _bearer(tenant, headers)
    section, key, header = scheme
    secret = tenant.secret(section, key)
    if not secret:
        return Denied(404, "channel_not_configured", f"{route} is not enabled for this tenant")
    given = headers.get(header, "")
    if not given:
        return Denied(401, "missing_signature", f"the {header} header is required")
    if not _valid(route, secret, body, given, url):
        return Denied(403, "invalid_signature", f"{header} does not match the body")
    return None


def _bearer(tenant: TenantSecrets, headers: Mapping[str, str]) -> Denied | None:
    if not tenant.api_token:
        return Denied(404, "channel_not_configured", "no api_token is set for this tenant")
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Denied(401, "missing_token", "Authorization: Bearer <api_token> is required")
    if not hmac.compare_digest(token.strip().encode(), tenant.api_token.encode()):
        return Denied(403, "invalid_token", "the bearer token is not this tenant's")
    return None


def _valid(route: str, secret: str, body: bytes, given: str, url: str) -> bool:
    if route in ("facebook", "instagram"):
        return signatures.verify_meta(secret, body, given)
    if route == "twitter":
        return signatures.verify_x(secret, body, given)
    if route == "viber":
        return signatures.verify_viber(secret, body, given)
    if "bodySHA256=" in url:
        return signatures.verify_twilio_body(secret, url, body, given)
    try:
        params = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return False
    return signatures.verify_twilio(secret, url, params, given)
