"""The gateway's config file, its OpenAPI document and its credential checks, without a broker."""

from __future__ import annotations

import pytest

from adapters.signatures import meta_signature, twilio_signature
from gateway import auth
from gateway.app import Gateway
from gateway.config import GatewayConfigError, parse_gateway_config
from gateway.openapi import document
from streams.settings import Settings

GOOD = """
public_url: https://gw.example.com/
tenants:
  acme:
    api_token: s3cret-token
    mailboxes: [Help@Acme.example]
    facebook: {app_secret: s3cret-fb, verify_token: s3cret-verify}
    twilio: {auth_token: s3cret-twilio}
"""


def test_good_config() -> None:
    cfg = parse_gateway_config(GOOD)
    acme = cfg.tenants["acme"]
    assert cfg.public_url == "https://gw.example.com"
    assert acme.mailboxes == ("help@acme.example",)
    assert acme.secret("facebook", "app_secret") == "s3cret-fb"
    assert acme.secret("viber", "auth_token") == ""  # not enabled
    assert "s3cret" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tenants: {}", "tenants: expected a non-empty mapping"),
        ("tenants: {acme: {facebok: {app_secret: s3cret}}}", "unknown key 'facebok'"),
        (
            "tenants: {acme: {facebook: {app_secret: s3cret}}}",
            "facebook.verify_token: expected a non-empty string",
        ),
        ("tenants: {'a b': {api_token: s3cret}}", "tenant names are letters"),
        ("tenants: {acme: {viber: {auth_token: s3cret, extra: s3cret}}}", "unknown key 'extra'"),
        ("public_url: s3cret\ntenants: {acme: {}}", "public_url: expected an absolute URL"),
        ("[", "not YAML"),
    ],
)
def test_bad_config_names_the_problem_never_the_secret(text: str, expected: str) -> None:
    with pytest.raises(GatewayConfigError) as err:
        parse_gateway_config(text)
    message = "\n".join(err.value.problems)
    assert expected in message
    if expected != "not YAML":  # YAML's own message quotes the text it could not read
        assert "s3cret" not in message


def test_openapi_describes_exactly_the_served_routes() -> None:
    gateway = Gateway(Settings(kafka_bootstrap="127.0.0.1:1"), parse_gateway_config(GOOD))
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in gateway.app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    doc = document()
    described = {(m, path) for path, item in doc["paths"].items() for m in item}
    assert served == described
    assert doc["openapi"] == "3.0.3"
    for item in doc["paths"].values():
        for op in item.values():
            assert op["responses"]["200"]


def test_credentials() -> None:
    acme = parse_gateway_config(GOOD).tenants["acme"]
    body = b'{"object": "page"}'
    ok = {"x-hub-signature-256": meta_signature("s3cret-fb", body)}
    assert auth.check("facebook", acme, ok, body, "") is None
    assert auth.check("facebook", acme, {}, body, "").status == 401
    wrong = {"x-hub-signature-256": meta_signature("other", body)}
    assert auth.check("facebook", acme, wrong, body, "").status == 403
    assert auth.check("viber", acme, {}, body, "").reason == "channel_not_configured"
    assert auth.check("email", acme, {"authorization": "Bearer s3cret-token"}, b"", "") is None
    assert auth.check("chat", acme, {"authorization": "Basic s3cret-token"}, b"", "").status == 401
    url = "https://gw.example.com/ingest/acme/call"
    form = b"CallSid=CA1&CallStatus=ringing"
    sig = twilio_signature("s3cret-twilio", url, [("CallSid", "CA1"), ("CallStatus", "ringing")])
    assert auth.check("call", acme, {"x-twilio-signature": sig}, form, url) is None
    assert auth.check("call", acme, {"x-twilio-signature": sig}, form + b"&X=1", url) is not None
