"""Records stamped in the future are refused before they move a stage's clock."""

from __future__ import annotations

import dataclasses
import math

import pytest

from schemas.codec import encode
from schemas.events import AgentPresenceChanged, ClockTicked
from streams import topics
from streams.rule_stage import Rejected, route_record
from streams.settings import Settings, SettingsError
from streams.skew import future_timestamp
from tests.unit.test_rules import _config_for, config, inbound

NOW = 1_000_000.0


def test_a_record_timestamp_beyond_the_skew_is_named() -> None:
    assert future_timestamp(NOW + 300, None, NOW, 300) is None
    why = future_timestamp(NOW + 86_400, None, NOW, 300)
    assert why is not None and "86400s ahead" in why and "MAX_CLOCK_SKEW_S=300" in why


@pytest.mark.parametrize(
    "event",
    [
        AgentPresenceChanged("ev", "acme", "ann", "online", NOW + 3600),
        ClockTicked("acme", NOW + 3600),
    ],
)
def test_an_event_time_beyond_the_skew_is_named(event: object) -> None:
    why = future_timestamp(NOW, event, NOW, 300)
    assert why is not None and f"{type(event).__name__}." in why


def test_event_times_within_the_skew_pass() -> None:
    assert future_timestamp(NOW + 10, ClockTicked("acme", NOW + 299), NOW, 300) is None


def test_the_rule_stage_refuses_a_record_from_the_future() -> None:
    raw = encode(inbound("email"))
    cfg = _config_for(config())
    ahead = route_record(raw, topics.INBOUND["email"], cfg, NOW + 86_400, NOW, 300)
    assert isinstance(ahead, Rejected) and ahead.reason == "future_timestamp"
    future_event = encode(dataclasses.replace(inbound("email"), received_at=NOW + 86_400))
    ahead = route_record(future_event, topics.INBOUND["email"], cfg, NOW, NOW, 300)
    assert isinstance(ahead, Rejected) and ahead.reason == "future_timestamp"
    assert "received_at" in ahead.detail
    # A replay (no wall clock to compare with) takes it.
    assert not isinstance(
        route_record(future_event, topics.INBOUND["email"], cfg, NOW, NOW, math.inf), Rejected
    )


def test_the_skew_setting_is_validated() -> None:
    assert Settings.from_env({"DESKROUTE_MAX_CLOCK_SKEW_S": "60"}).max_clock_skew_s == 60
    with pytest.raises(SettingsError, match="DESKROUTE_MAX_CLOCK_SKEW_S"):
        Settings.from_env({"DESKROUTE_MAX_CLOCK_SKEW_S": "0"})
