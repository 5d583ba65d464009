"""Working hours in the department's time zone: daylight-saving changes, holidays, calendars."""

from __future__ import annotations

import datetime as dt

import pytest

from rules import facts_for, route
from rules.hours import Calendar, parse_interval
from schemas.config_file import parse_config_text
from schemas.events import Customer, InboundReceived
from schemas.tenant_config import HoursConfig

PARIS = Calendar.of(
    HoursConfig(
        "Europe/Paris",
        {d: ("09:00-17:00",) for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sun": ("01:00-04:00",)},
        ("2026-12-25",),
    )
)


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("instant", "is_open", "why"),
    [
        (utc(2026, 3, 27, 8, 30), True, "Fri 09:30 CET"),
        (utc(2026, 3, 27, 7, 30), False, "Fri 08:30 CET"),
        (utc(2026, 3, 27, 15, 59), True, "Fri 16:59 CET"),
        (utc(2026, 3, 27, 16, 0), False, "Fri 17:00 CET: the end is not included"),
        # Spring forward (Sun 29 March, 02:00 CET -> 03:00 CEST): 09:00 local is 07:00 UTC.
        (utc(2026, 3, 30, 7, 30), True, "Mon 09:30 CEST (08:30 in winter time)"),
        (utc(2026, 3, 30, 6, 30), False, "Mon 08:30 CEST"),
        (utc(2026, 3, 30, 15, 30), False, "Mon 17:30 CEST (16:30 in winter time)"),
        # The change itself, inside Sunday's 01:00-04:00.
        (utc(2026, 3, 29, 0, 30), True, "Sun 01:30 CET"),
        (utc(2026, 3, 29, 1, 30), True, "Sun 03:30 CEST, an hour after 01:30 CET"),
        (utc(2026, 3, 29, 2, 0), False, "Sun 04:00 CEST"),
        # Fall back (Sun 25 October, 03:00 CEST -> 02:00 CET).
        (utc(2026, 10, 23, 7, 30), True, "Fri 09:30 CEST"),
        (utc(2026, 10, 26, 7, 30), False, "Mon 08:30 CET (09:30 in summer time)"),
        (utc(2026, 10, 26, 8, 30), True, "Mon 09:30 CET"),
        (utc(2026, 10, 25, 0, 30), True, "Sun 02:30 CEST, the first of two 02:30s"),
        (utc(2026, 10, 25, 1, 30), True, "Sun 02:30 CET, the second"),
        (utc(2026, 10, 25, 2, 30), True, "Sun 03:30 CET"),
        (utc(2026, 10, 25, 3, 0), False, "Sun 04:00 CET"),
        # Holidays are local dates.
        (utc(2026, 12, 24, 9, 0), True, "Thu 24 Dec 10:00 CET"),
        (utc(2026, 12, 25, 9, 0), False, "Fri 25 Dec 10:00 CET, a holiday"),
        (utc(2026, 12, 28, 9, 0), True, "Mon 28 Dec 10:00 CET"),
        (utc(2026, 12, 26, 9, 0), False, "Sat: no hours"),
    ],
)
def test_paris_hours(instant: float, is_open: bool, why: str) -> None:
    assert PARIS.is_open(instant) is is_open, why


def test_a_holiday_follows_the_local_date_not_utc() -> None:
    ny = Calendar.of(
        HoursConfig(
            "America/New_York", {"fri": ("00:00-24:00",), "sat": ("00:00-24:00",)}, ("2026-07-03",)
        )
    )
    assert not ny.is_open(utc(2026, 7, 4, 2, 0))  # Fri 3 July 22:00 EDT: the holiday
    assert ny.is_open(utc(2026, 7, 4, 5, 0))  # Sat 4 July 01:00 EDT
    assert ny.local_time(utc(2026, 7, 4, 2, 0)) == "Fri 2026-07-03 22:00 EDT"


def test_a_bogus_timestamp_is_closed_not_a_crash() -> None:
    assert PARIS.is_open(1e20) is False
    assert PARIS.local_time(1e20) == "an impossible time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:00-17:30", (540, 1050)), ("00:00-24:00", (0, 1440)), ("23:59-24:00", (1439, 1440))],
)
def test_intervals(text: str, expected: tuple[int, int]) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9:00-17:00", "expected HH:MM-HH:MM"),
        ("09:00-25:00", "no such time of day"),
        ("24:00-24:00", "no such time of day"),
        ("22:00-02:00", "split a night shift at midnight"),
        ("10:00-10:00", "ends before it starts"),
    ],
)
def test_bad_intervals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_interval(text)


CONFIG = """\
tenant: acme
calendars:
  uk-office:
    timezone: Europe/London
    weekly: {mon: "09:00-17:00", tue: ["09:00-12:00", "13:00-17:00"]}
    holidays: [2026-06-02]
departments:
  - id: support
    hours: {timezone: Asia/Tokyo, weekly: {mon: ["09:00-18:00"]}}
  - {id: night}
  - {id: uk}
rules:
  - name: uk-open
    if: [{field: time, op: within_hours, value: uk-office}]
    actions: [{transfer: uk}]
  - name: support-closed
    if: [{field: time, op: outside_hours, value: support}]
    actions: [{transfer: night}]
  - {name: rest, actions: [{transfer: support}]}
"""


def _at(epoch: float) -> InboundReceived:
    return InboundReceived("e", "acme", "email", "email:x", "c", Customer("c"), epoch)


@pytest.mark.parametrize(
    ("instant", "department"),
    [
        (utc(2026, 6, 1, 9, 0), "uk"),  # Mon 10:00 BST
        (utc(2026, 6, 2, 9, 0), "night"),  # Tue: a UK holiday (unquoted YAML date); Tokyo closed
        (utc(2026, 6, 2, 11, 30), "night"),
        (utc(2026, 6, 1, 1, 0), "support"),  # Mon 02:00 BST, 10:00 JST: rule rest
        (utc(2026, 6, 9, 11, 30), "night"),  # Tue 12:30 BST: the lunch gap
        (utc(2026, 6, 9, 12, 30), "uk"),
    ],
)
def test_calendars_and_department_hours_in_rules(instant: float, department: str) -> None:
    config = parse_config_text(CONFIG, "t.yaml")
    assert config.calendars["uk-office"].holidays == ("2026-06-02",)
    assert route(config, _at(instant)).department == department


def test_explained_time_conditions_show_the_local_clock() -> None:
    from rules import explain

    config = parse_config_text(CONFIG, "t.yaml")
    _, text = explain(config, facts_for(_at(utc(2026, 6, 1, 9, 0))))
    assert "held   time within_hours uk-office   (actual: Mon 2026-06-01 10:00 BST)" in text
