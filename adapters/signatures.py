"""Webhook signatures of each channel, computed and checked in constant time.

Every ``verify_*`` takes the header value exactly as received and returns a bool;
a missing or malformed header is simply "not valid" (the gateway tells missing
from wrong before calling these). Secrets are ``str`` as the platforms show them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable


def _hmac(secret: str, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(secret.encode(), message, digest).digest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def meta_signature(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` of Facebook/Instagram webhooks: ``sha256=<hex HMAC>``."""
    return "sha256=" + _hmac(app_secret, body).hex()


def verify_meta(app_secret: str, body: bytes, header: str) -> bool:
    return _same(meta_signature(app_secret, body), header)


def x_signature(consumer_secret: str, body: bytes) -> str:
    """``x-twitter-webhooks-signature``: ``sha256=<base64 HMAC of the body>``."""
    return "sha256=" + base64.b64encode(_hmac(consumer_secret, body)).decode()


def verify_x(consumer_secret: str, body: bytes, header: str) -> bool:
    return _same(x_signature(consumer_secret, body), header)


def x_crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The JSON answer to X's challenge-response check (GET with ``crc_token``)."""
    return {"response_token": x_signature(consumer_secret, crc_token.encode())}


def viber_signature(auth_token: str, body: bytes) -> str:
    """``X-Viber-Content-Signature``: hex HMAC-SHA256 of the body with the bot's token."""
    return _hmac(auth_token, body).hex()


def verify_viber(auth_token: str, body: bytes, header: str) -> bool:
    return _same(viber_signature(auth_token, body), header.lower())


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL then each name+value, sorted."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    message = url + "".join(n + v for n in sorted(grouped) for v in sorted(grouped[n]))
    return base64.b64encode(_hmac(auth_token, message.encode(), "sha1")).decode()


def verify_twilio(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], header: str
) -> bool:
    """Form callbacks. Twilio may sign the URL with or without the default port, so both count."""
    pairs = list(params)
    return any(
        _same(twilio_signature(auth_token, candidate, pairs), header)
        for candidate in _url_variants(url)
    )


def verify_twilio_body(auth_token: str, url: str, body: bytes, header: str) -> bool:
    """JSON callbacks: the URL carries ``bodySHA256`` (hex SHA-256 of the body) and is signed alone."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    claimed = (query.get("bodySHA256") or [""])[0]
    if not _same(hashlib.sha256(body).hexdigest(), claimed):
        return False
    return any(_same(twilio_signature(auth_token, c), header) for c in _url_variants(url))


def _url_variants(url: str) -> list[str]:
    """The URL as given, plus the same URL with its default port added or removed."""
    parts = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if port is None:
        other = parts._replace(netloc=f"{prefix}{host}:{default}")
    elif port == default:
        other = parts._replace(netloc=f"{prefix}{host}")
    else:
        return [url]
    return [url, urllib.parse.urlunsplit(other)]
