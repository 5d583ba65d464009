"""Opening hours: weekly intervals and holidays in one IANA time zone.

The instant is converted to the zone's wall clock with :mod:`zoneinfo`, so a
``09:00-17:00`` day stays 09:00-17:00 local on both sides of a daylight-saving
change. The ``tzdata`` package supplies the zone database where the system has none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.tenant_config import HoursConfig

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")

Interval = tuple[int, int]  # minutes after local midnight, [start, end)


def parse_interval(text: str) -> Interval:
    """``"09:00-17:30"`` -> (540, 1050); raises ValueError saying what is wrong."""
    m = _INTERVAL.match(text)
    if m is None:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"no such time of day in {text!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(
            f"{text!r} ends before it starts; split a night shift at midnight "
            "(22:00-24:00 on one day, 00:00-06:00 on the next)"
        )
    return start, end


def hours_problems(hours: HoursConfig) -> list[tuple[str, str]]:
    """Every problem of ``hours`` as (sub-path, message), for the config checkers."""
    found: list[tuple[str, str]] = []
    try:
        ZoneInfo(hours.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(
            ("timezone", f"unknown time zone {hours.timezone!r} (IANA name, e.g. Europe/Paris)")
        )
    for day, intervals in hours.weekly.items():
        if day not in DAYS:
            found.append((f"weekly.{day}", f"unknown day (known: {', '.join(DAYS)})"))
            continue
        for i, text in enumerate(intervals):
            try:
                parse_interval(text)
            except ValueError as exc:
                found.append((f"weekly.{day}[{i}]", str(exc)))
    for i, text in enumerate(hours.holidays):
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            found.append((f"holidays[{i}]", f"expected a date YYYY-MM-DD, got {text!r}"))
    return found


@dataclass(frozen=True, slots=True)
class Calendar:
    zone: ZoneInfo
    #: Monday first, as :meth:`datetime.date.weekday` counts.
    weekly: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[dt.date]

    @classmethod
    def of(cls, hours: HoursConfig) -> Calendar:
        """Build from checked hours (see :func:`hours_problems`)."""
        weekly = tuple(
            tuple(sorted(parse_interval(t) for t in hours.weekly.get(day, ()))) for day in DAYS
        )
        holidays = frozenset(dt.date.fromisoformat(d) for d in hours.holidays)
        return cls(ZoneInfo(hours.timezone), weekly, holidays)

    def is_open(self, epoch: float) -> bool:
        local = self._local(epoch)
        if local is None:  # a time no calendar holds (a producer's bogus timestamp)
            return False
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly[local.weekday()])

    def local_time(self, epoch: float) -> str:
        """The instant on this calendar's wall clock, for explanations."""
        local = self._local(epoch)
        return (
            "an impossible time" if local is None else f"{local:%a %Y-%m-%d %H:%M} {local.tzname()}"
        )

    def _local(self, epoch: float) -> dt.datetime | None:
        try:
            return dt.datetime.fromtimestamp(epoch, self.zone)
        except (OverflowError, ValueError, OSError):
            return None
