"""One frozen settings object, read once from ``DESKROUTE_*`` environment variables.

Defaults suit the embedded broker on this machine; production sets
``KAFKA_BOOTSTRAP`` (and TLS/SASL in a later release) and leaves the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    pass


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
    #: How long the broker may hold a fetch with no data. Faust hard-codes 1500 ms,
    #: which the embedded broker always waits out: a call would wait 1.5 s per hop.
    fetch_max_wait_ms: int = 10
    #: Producer batch size in bytes.
    producer_max_batch_bytes: int = 16384
    producer_linger_ms: int = 0
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    rebalance_timeout_s: float = 5.0
    #: Inbound records larger than this are dead-lettered unread.
    max_record_bytes: int = 1 << 20
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
                values[f.name] = kind(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r}: expected {kind.__name__}") from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        if self.partitions < 1:
            raise SettingsError("DESKROUTE_PARTITIONS: must be at least 1")
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"DESKROUTE_WEB_PORT: {self.web_port} is not a port")
        if not 0 < self.gateway_port < 65536:
            raise SettingsError(f"DESKROUTE_GATEWAY_PORT: {self.gateway_port} is not a port")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"DESKROUTE_LOG_LEVEL: {self.log_level!r} is not a level")

    @property
    def bootstrap_servers(self) -> list[str]:
        if not self.kafka_bootstrap:
            raise SettingsError("KAFKA_BOOTSTRAP is not set (host:port[,host:port])")
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)
