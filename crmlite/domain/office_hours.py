"""Office hours: when an office is open, and an SLA that only runs while it is.

A call missed at 19:00 in an office that closes at 18:00 cannot be called back before the next
opening, so its call-back deadline counts the SLA from then, in that office's time zone. Each
PBX (office) may have its own hours; one without falls back to the install-wide hours, and no
hours at all means round the clock (the SLA counts plain minutes).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
# A week with no window at all would never reach a deadline; give up after a year of days.
_MAX_DAYS = 366


class BadHours(ValueError):
    """Office hours that cannot be read; the message names the bad part."""


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Weekly opening windows in a time zone, closed on holidays."""

    timezone: str
    # Weekday (0 = Monday) -> windows as (start, end) minutes after local midnight, end exclusive.
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date] = frozenset()

    def deadline(self, start: dt.datetime, sla: dt.timedelta) -> dt.datetime:
        """The aware moment ``sla`` of open time after ``start`` has passed."""
        zone = ZoneInfo(self.timezone)
        # Arithmetic in UTC: aware datetimes sharing one zone add and subtract wall-clock time.
        moment = start.astimezone(dt.UTC)
        left = sla
        day = start.astimezone(zone).date()
        for _ in range(_MAX_DAYS):
            if day not in self.holidays:
                for first, last in self.weekly[day.weekday()]:
                    opens = _at(day, first, zone)
                    closes = _at(day, last, zone)
                    begin = max(opens, moment)
                    if begin >= closes:
                        continue
                    if begin + left <= closes:
                        return (begin + left).astimezone(start.tzinfo)
                    left -= closes - begin
            day += dt.timedelta(days=1)
        raise BadHours("the office is never open")

    def open_between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """How much of ``start``..``end`` fell in opening windows (zero when ``end`` is earlier)."""
        zone = ZoneInfo(self.timezone)
        begin, finish = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        total = dt.timedelta()
        day = begin.astimezone(zone).date() - dt.timedelta(days=1)  # a window may span midnight UTC
        while day <= finish.astimezone(zone).date():
            if day not in self.holidays:
                for first, last in self.weekly[day.weekday()]:
                    opens = max(_at(day, first, zone), begin)
                    closes = min(_at(day, last, zone), finish)
                    if closes > opens:
                        total += closes - opens
            day += dt.timedelta(days=1)
        return total


def _at(day: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    # Wall-clock minutes: across a DST change 09:00 stays 09:00 local.
    wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    return wall.replace(tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class SlaClock:
    """Which hours a call's SLA runs in: its PBX's own, else the install-wide ones, else always."""

    default: OfficeHours | None = None
    per_pbx: Mapping[str, OfficeHours] = field(default_factory=dict)

    @property
    def plain(self) -> bool:
        """True when every SLA counts plain minutes (no hours configured anywhere)."""
        return self.default is None and not self.per_pbx

    def hours_of(self, pbx: str | None) -> OfficeHours | None:
        if pbx is not None and pbx in self.per_pbx:
            return self.per_pbx[pbx]
        return self.default

    def deadline(self, missed_at: dt.datetime, pbx: str | None, sla: dt.timedelta) -> dt.datetime:
        hours = self.hours_of(pbx)
        return missed_at + sla if hours is None else hours.deadline(missed_at, sla)

    def open_time(self, start: dt.datetime, end: dt.datetime, pbx: str | None) -> dt.timedelta:
        """The time from ``start`` to ``end`` that counts: open hours of ``pbx``'s office."""
        hours = self.hours_of(pbx)
        return max(end - start, dt.timedelta()) if hours is None else hours.open_between(start, end)


def read_office_hours(
    timezone: str, days: Mapping[str, Sequence[str]], holidays: Sequence[str] = ()
) -> OfficeHours:
    """Office hours from settings: ``{"mon-fri": ["09:00-18:00"]}``, ISO holiday dates."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise BadHours(f"unknown timezone {timezone!r}") from err
    weekly: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    for key, windows in days.items():
        indexes = _day_span(key)
        if indexes is None:
            raise BadHours(f"{key!r}: a day is mon..sun or a span such as mon-fri")
        for text in windows:
            window = _window(text)
            if window is None:
                raise BadHours(f"{key}: {text!r} is not a window such as 09:00-18:00")
            for index in indexes:
                weekly[index].append(window)
    if days and not any(weekly):
        raise BadHours("the office is never open")
    if not days:
        raise BadHours('name the opening days, such as mon-fri = ["09:00-18:00"]')
    closed: set[dt.date] = set()
    for text in holidays:
        try:
            closed.add(dt.date.fromisoformat(text))
        except ValueError as err:
            raise BadHours(f"{text!r} is not a date such as 2026-01-01") from err
    return OfficeHours(timezone, tuple(tuple(sorted(w)) for w in weekly), frozenset(closed))


def _day_span(key: str) -> list[int] | None:
    first, _, last = key.strip().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        return None
    start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    return list(range(start, end + 1)) if start <= end else None


def _window(text: str) -> tuple[int, int] | None:
    match = _WINDOW.match(text.strip())
    if match is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
        return None
    return start, end
