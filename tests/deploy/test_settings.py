"""Production settings: TLS/SASL client arguments for every Kafka client, the table
store, the queue SLA and boolean flags, read from the environment as deployed."""

from __future__ import annotations

import ssl

import faust
import pytest

from streams.security import client_kwargs, faust_credentials
from streams.settings import Settings, SettingsError, parse_sla

BASE = {"KAFKA_BOOTSTRAP": "k1:9093,k2:9093"}


def test_plaintext_by_default() -> None:
    s = Settings.from_env(BASE)
    assert client_kwargs(s) == {
        "bootstrap_servers": ["k1:9093", "k2:9093"],
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(s) is None


def test_sasl_ssl_reaches_aiokafka_and_faust() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "DESKROUTE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "DESKROUTE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "DESKROUTE_KAFKA_SASL_USERNAME": "deskroute",
            "DESKROUTE_KAFKA_SASL_PASSWORD": "s3cret",
            "DESKROUTE_KAFKA_SSL_CHECK_HOSTNAME": "false",
        }
    )
    kw = client_kwargs(s)
    assert kw["security_protocol"] == "SASL_SSL"
    assert (kw["sasl_mechanism"], kw["sasl_plain_username"], kw["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "deskroute",
        "s3cret",
    )
    assert isinstance(kw["ssl_context"], ssl.SSLContext)
    assert kw["ssl_context"].check_hostname is False
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret" not in repr(s), "the password never appears in a repr or a log"


def test_ssl_only_and_a_custom_ca() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "DESKROUTE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "DESKROUTE_KAFKA_SSL_CAFILE": ssl.get_default_verify_paths().cafile or "",
        }
    )
    assert isinstance(faust_credentials(s), faust.SSLCredentials)
    assert "sasl_mechanism" not in client_kwargs(s)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DESKROUTE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "SECURITY_PROTOCOL"),
        ({"DESKROUTE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "SASL_USERNAME"),
        ({"DESKROUTE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "SASL_MECHANISM"),
        ({"DESKROUTE_STORE": "redis://"}, "DESKROUTE_STORE"),
        ({"DESKROUTE_QUEUE_SLA": "chat=soon"}, "DESKROUTE_QUEUE_SLA"),
        ({"DESKROUTE_QUEUE_SLA": "fax=10"}, "DESKROUTE_QUEUE_SLA"),
        ({"DESKROUTE_PER_AGENT_METRICS": "maybe"}, "PER_AGENT_METRICS"),
        ({"DESKROUTE_FETCH_GAP_WAIT_S": "0"}, "DESKROUTE_FETCH_GAP_WAIT_S"),
        ({"DESKROUTE_DELIVERY_TIMEOUT_S": "0.5"}, "DESKROUTE_DELIVERY_TIMEOUT_S"),
        ({"DESKROUTE_FETCH_GAP_WAIT_S": "3601"}, "DESKROUTE_FETCH_GAP_WAIT_S"),
    ],
)
def test_bad_settings_fail_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE, **env})


def test_flags_store_and_sla() -> None:
    s = Settings.from_env(
        {**BASE, "DESKROUTE_PER_AGENT_METRICS": "true", "DESKROUTE_STORE": "rocksdb://"}
    )
    assert s.per_agent_metrics is True and s.store == "rocksdb://"
    assert (
        Settings.from_env({**BASE, "DESKROUTE_PER_AGENT_METRICS": "0"}).per_agent_metrics is False
    )
    assert parse_sla("chat=120, support/chat=60,call=30") == {
        ("", "chat"): 120.0,
        ("support", "chat"): 60.0,
        ("", "call"): 30.0,
    }
