"""One frozen settings object, read once from ``DESKROUTE_*`` environment variables.

Defaults suit the embedded broker on this machine; production sets
``KAFKA_BOOTSTRAP`` and the ``DESKROUTE_KAFKA_*`` security settings and leaves the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    pass


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def parse_sla(spec: str) -> dict[tuple[str, str], float]:
    """``chat=120,support/chat=60`` -> {("", "chat"): 120, ("support", "chat"): 60}.

    The department part is optional so one line covers every department and a
    stricter one overrides it; a typo fails at start-up, not silently at alert time.
    """
    out: dict[tuple[str, str], float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        target, sep, seconds = item.partition("=")
        dept, _, channel = target.strip().rpartition("/")
        if not sep or channel not in {"email", "social", "chat", "call"}:
            raise ValueError(f"{item!r}: expected [department/]channel=seconds")
        value = float(seconds)
        if value <= 0:
            raise ValueError(f"{item!r}: seconds must be positive")
        out[(dept, channel)] = value
    return out


@dataclass(frozen=True, slots=True)
class Settings:
    #: Comma-separated host:port list; from ``KAFKA_BOOTSTRAP`` (or ``DESKROUTE_KAFKA_BOOTSTRAP``).
    kafka_bootstrap: str = ""
    app_id: str = "deskroute"
    partitions: int = 4
    replication: int = 1
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = ".deskroute/data"
    log_level: str = "info"
    #: How long the broker may hold a fetch with no data. Faust hard-codes 1500 ms:
    #: a record reaching an idle hop would wait up to 0.75 s (the embedded broker
    #: looks again after half the remaining wait).
    fetch_max_wait_ms: int = 10
    #: How far a consumer's fetch wait may rise while the broker answers partitions
    #: that have records with none (:mod:`streams.fetch_wait`).
    fetch_max_wait_ceiling_ms: int = 2000
    #: How long a consumer waits for an offset the broker answered past (a batch it
    #: has not stored yet) before it reads on without it (:mod:`streams.fetch_gaps`).
    #: The broker answers a write only once it stored it (a 10 MB one: ~64 ms), so a
    #: hole this old is a write it failed after taking the offset.
    fetch_gap_wait_s: float = 45.0
    #: How long the worker's producer keeps retrying a record before it gives up;
    #: the worker then exits before its next commit (:mod:`streams.kafka`, point 8).
    delivery_timeout_s: float = 1200.0
    #: Producer batch size in bytes.
    producer_max_batch_bytes: int = 16384
    producer_linger_ms: int = 0
    #: The worker's own producer (every routed ticket, relayed agent event, outcome
    #: and changelog row): how long a batch waits for more records, and how large it
    #: may grow. A few milliseconds make batches of many records under load, which
    #: the brokers read and write far faster than as many one-record batches (the
    #: embedded one slows down with every batch a partition holds); the clients
    #: (gateway, tools) keep ``producer_*``.
    worker_linger_ms: int = 5
    worker_max_batch_bytes: int = 262144
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    rebalance_timeout_s: float = 5.0
    #: How often the worker records the passing of time for each routing domain it
    #: owns (``ClockTicked``): the resolution of offer timeouts and escalations.
    tick_seconds: float = 1.0
    #: How long rows that only serve deduplication stay in the state table: tickets
    #: that finished, were withdrawn or were unroutable (from their last change) and
    #: agent events' ids (from the event's time). A redelivery within this window
    #: changes nothing; after it, the id is unknown and the event is new work.
    dedupe_retention_s: float = 86400.0
    #: Inbound records larger than this are dead-lettered unread.
    max_record_bytes: int = 1 << 20
    #: How far ahead of this worker's clock a record's timestamp (Kafka's, or the
    #: event's own time) may be. The assignment stage's clock never runs backwards,
    #: so one record stamped a day ahead would freeze waits and timeouts of its
    #: whole partition for a day; such records are dead-lettered (``future_timestamp``).
    max_clock_skew_s: float = 300.0
    #: The ingest gateway (``deskroute ingest``): where it listens.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 6067
    #: YAML file of tenants and their channel secrets (``deskroute ingest`` needs it).
    gateway_config: str = ""
    #: Larger request bodies get 413; raw mail with attachments is what needs room.
    gateway_max_body_bytes: int = 25 << 20
    #: How long a request waits for the broker's acknowledgement before it gets 503.
    gateway_publish_timeout_s: float = 10.0
    #: ``Retry-After`` (seconds) sent with 503 when the broker is unreachable.
    gateway_retry_after_s: int = 5
    #: Faust table store. ``memory://`` rebuilds state from the changelog at every
    #: start; ``rocksdb://`` (production, ``pip install 'deskroute[rocksdb]'``) keeps it
    #: under ``data_dir`` so a restart reads only the changelog's new tail.
    store: str = "memory://"
    #: Per-agent series (``deskroute_agent_open_work`` and friends). Off by default:
    #: one series per agent and channel is what makes a Prometheus server expensive.
    per_agent_metrics: bool = False
    #: Longest a ticket should wait in a queue, per channel and optionally per
    #: department (``department/channel=seconds``, which wins); exported as
    #: ``deskroute_queue_sla_seconds`` for the oldest-wait alert.
    queue_sla: str = "email=14400,social=3600,chat=120,call=60"
    #: Kafka transport security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    kafka_security_protocol: str = "PLAINTEXT"
    #: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol).
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    #: PEM bundle of the CAs that sign the brokers' certificates (default: the system's).
    kafka_ssl_cafile: str = ""
    #: Client certificate and key for mutual TLS (optional).
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_check_hostname: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f"DESKROUTE_{f.name.upper()}"
            raw = env.get(name)
            if f.name == "kafka_bootstrap":
                raw = env.get("KAFKA_BOOTSTRAP", raw)
            if raw is None or raw == "":
                continue
            kind: type[Any] = type(f.default)
            try:
                values[f.name] = _parse_bool(raw) if kind is bool else kind(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r}: expected {kind.__name__}") from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        if self.partitions < 1:
            raise SettingsError("DESKROUTE_PARTITIONS: must be at least 1")
        if not 0.05 <= self.tick_seconds <= 60:
            raise SettingsError(f"DESKROUTE_TICK_SECONDS: {self.tick_seconds} outside 0.05..60")
        if self.dedupe_retention_s <= 0:
            raise SettingsError(
                f"DESKROUTE_DEDUPE_RETENTION_S: {self.dedupe_retention_s} must be positive"
            )
        if self.max_clock_skew_s <= 0:
            raise SettingsError(
                f"DESKROUTE_MAX_CLOCK_SKEW_S: {self.max_clock_skew_s} must be positive"
            )
        if not 1 <= self.fetch_max_wait_ms <= self.fetch_max_wait_ceiling_ms <= 30_000:
            # Above 30 s a held fetch would meet the clients' 40 s request timeout.
            raise SettingsError(
                f"DESKROUTE_FETCH_MAX_WAIT_MS ({self.fetch_max_wait_ms}) and "
                f"DESKROUTE_FETCH_MAX_WAIT_CEILING_MS ({self.fetch_max_wait_ceiling_ms}): "
                "need 1 <= wait <= ceiling <= 30000"
            )
        if not 1 <= self.delivery_timeout_s <= 86_400:
            raise SettingsError(
                f"DESKROUTE_DELIVERY_TIMEOUT_S: {self.delivery_timeout_s} outside 1..86400"
            )
        if not 0 < self.fetch_gap_wait_s <= 3600:
            raise SettingsError(
                f"DESKROUTE_FETCH_GAP_WAIT_S: {self.fetch_gap_wait_s} outside (0, 3600]"
            )
        if not 0 <= self.worker_linger_ms <= 1000:
            raise SettingsError(
                f"DESKROUTE_WORKER_LINGER_MS: {self.worker_linger_ms} outside 0..1000"
            )
        if not 1024 <= self.worker_max_batch_bytes <= self.max_record_bytes:
            raise SettingsError(
                f"DESKROUTE_WORKER_MAX_BATCH_BYTES: {self.worker_max_batch_bytes} outside "
                f"1024..DESKROUTE_MAX_RECORD_BYTES ({self.max_record_bytes})"
            )
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"DESKROUTE_WEB_PORT: {self.web_port} is not a port")
        if not 0 < self.gateway_port < 65536:
            raise SettingsError(f"DESKROUTE_GATEWAY_PORT: {self.gateway_port} is not a port")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"DESKROUTE_LOG_LEVEL: {self.log_level!r} is not a level")
        if self.kafka_security_protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(
                f"DESKROUTE_KAFKA_SECURITY_PROTOCOL: {self.kafka_security_protocol!r} is not one of "
                + ", ".join(SECURITY_PROTOCOLS)
            )
        if self.kafka_sasl_mechanism not in SASL_MECHANISMS:
            raise SettingsError(
                f"DESKROUTE_KAFKA_SASL_MECHANISM: {self.kafka_sasl_mechanism!r} is not one of "
                + ", ".join(SASL_MECHANISMS)
            )
        if self.kafka_security_protocol.startswith("SASL") and not self.kafka_sasl_username:
            raise SettingsError("DESKROUTE_KAFKA_SASL_USERNAME: required with a SASL protocol")
        if self.store.split("://", 1)[0] not in {"memory", "rocksdb"}:
            raise SettingsError(f"DESKROUTE_STORE: {self.store!r} is not memory:// or rocksdb://")
        try:
            parse_sla(self.queue_sla)
        except ValueError as exc:
            raise SettingsError(f"DESKROUTE_QUEUE_SLA: {exc}") from None

    @property
    def bootstrap_servers(self) -> list[str]:
        if not self.kafka_bootstrap:
            raise SettingsError("KAFKA_BOOTSTRAP is not set (host:port[,host:port])")
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)
