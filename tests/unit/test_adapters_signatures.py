"""Webhook signatures: the published vectors verify, and any change to body, URL or secret fails."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.signatures import (
    meta_signature,
    twilio_signature,
    verify_meta,
    verify_twilio,
    verify_twilio_body,
    verify_viber,
    verify_x,
    x_crc_response,
    x_signature,
)
from tests.support import ROOT

VECTORS = ROOT.parent / "shared" / "corpus" / "webhooks" / "signature_vectors.json"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    if not Path(VECTORS).is_file():
        pytest.skip(f"{VECTORS} is absent")
    return dict(json.loads(VECTORS.read_text()))


def test_viber_vector(vectors: dict[str, Any]) -> None:
    v = vectors["viber_x_viber_content_signature"]
    body = v["raw_body"].encode()
    assert verify_viber(v["auth_token"], body, v["signature"])
    assert verify_viber(v["auth_token"], body, v["signature"].upper())  # hex is case-blind
    assert not verify_viber(v["auth_token"], body + b" ", v["signature"])
    assert not verify_viber("other-token", body, v["signature"])


def test_twilio_form_vector(vectors: dict[str, Any]) -> None:
    v = vectors["twilio_x_twilio_signature_form"]
    params = list(v["params"].items())
    assert twilio_signature(v["auth_token"], v["url"], params) == v["signature"]
    assert verify_twilio(v["auth_token"], v["url"], params, v["signature"])
    # Twilio may sign with the default port in the URL; either form verifies.
    with_port = v["url"].replace("mycompany.com/", "mycompany.com:443/")
    assert twilio_signature(v["auth_token"], with_port, params) == v["url_with_port_443_signature"]
    assert verify_twilio(v["auth_token"], v["url"], params, v["url_with_port_443_signature"])
    assert verify_twilio(v["auth_token"], with_port, params, v["signature"])
    assert not verify_twilio(v["auth_token"], v["url"], [*params, ("Extra", "1")], v["signature"])
    assert not verify_twilio(v["auth_token"], v["url"] + "x", params, v["signature"])
    assert not verify_twilio("54321", v["url"], params, v["signature"])


def test_twilio_json_body_vector(vectors: dict[str, Any]) -> None:
    v = vectors["twilio_x_twilio_signature_json_body"]
    body = v["body"].encode()
    assert hashlib.sha256(body).hexdigest() == v["bodySHA256"]
    assert verify_twilio_body(v["auth_token"], v["url"], body, v["signature"])
    assert not verify_twilio_body(v["auth_token"], v["url"], body + b"\n", v["signature"])
    assert not verify_twilio_body("54321", v["url"], body, v["signature"])


def test_meta_signature_is_hex_hmac_sha256_with_prefix() -> None:
    body = b'{"object":"page","entry":[]}'
    expected = "sha256=" + hmac.new(b"app-secret", body, "sha256").hexdigest()
    assert meta_signature("app-secret", body) == expected
    assert verify_meta("app-secret", body, expected)
    assert not verify_meta("app-secret", body, expected.replace("sha256=", "sha1="))
    assert not verify_meta("app-secret", body, "")
    assert not verify_meta("wrong", body, expected)


def test_x_signature_and_crc_are_base64_hmac_sha256() -> None:
    body = b'{"for_user_id":"1"}'
    digest = base64.b64encode(hmac.new(b"consumer", body, "sha256").digest()).decode()
    assert x_signature("consumer", body) == f"sha256={digest}"
    assert verify_x("consumer", body, f"sha256={digest}")
    assert not verify_x("consumer", body + b" ", f"sha256={digest}")
    crc = base64.b64encode(hmac.new(b"consumer", b"token-1", "sha256").digest()).decode()
    assert x_crc_response("consumer", "token-1") == {"response_token": f"sha256={crc}"}


def test_non_ascii_header_is_just_invalid() -> None:
    assert not verify_meta("s", b"{}", "sha256=é")
    assert not verify_twilio("s", "https://h/x", [], "é")
