"""Reading business hours: weekly windows in a timezone, and holidays."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cti.rules.model.reader import Reader
from cti.rules.model.types import BusinessHours

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def read_all_hours(reader: Reader, raw: object) -> tuple[BusinessHours, ...]:
    """Every ``[hours.<name>]`` table of the document."""
    names = set(raw) if isinstance(raw, Mapping) else set()
    return tuple(
        _hours(reader, str(name), value, f"hours.{name}")
        for name, value in reader.table(raw, "hours", names).items()
    )


def _hours(reader: Reader, name: str, raw: object, path: str) -> BusinessHours:
    body = reader.table(raw, path, {"timezone", "days", "holidays"})
    timezone = body.get("timezone")
    if not isinstance(timezone, str):
        reader.fail(f"{path}.timezone", "is required: an IANA name such as Europe/Moscow")
        timezone = "UTC"
    else:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.fail(f"{path}.timezone", f"unknown timezone {timezone!r}")
            timezone = "UTC"
    weekly: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    days = body.get("days", {})
    for key, value in reader.table(
        days, f"{path}.days", set(days) if isinstance(days, Mapping) else set()
    ).items():
        day_path = f"{path}.days.{key}"
        indexes = _day_span(str(key))
        if indexes is None:
            reader.fail(day_path, "a day is mon..sun or a span such as mon-fri")
            continue
        for window in reader.strings(value, day_path):
            parsed = _window(window)
            if parsed is None:
                reader.fail(day_path, f"{window!r} is not a window such as 09:00-18:00")
                continue
            for index in indexes:
                weekly[index].append(parsed)
    holidays: set[dt.date] = set()
    raw_holidays = body.get("holidays", [])
    if not isinstance(raw_holidays, list):
        reader.fail(f"{path}.holidays", "must be a list of dates")
        raw_holidays = []
    for index, value in enumerate(raw_holidays):
        day = _date(value)
        if day is None:
            reader.fail(f"{path}.holidays[{index}]", "must be a date such as 2026-01-01")
        else:
            holidays.add(day)
    return BusinessHours(
        name=name,
        timezone=timezone,
        weekly=tuple(tuple(sorted(w)) for w in weekly),
        holidays=frozenset(holidays),
    )


def _day_span(key: str) -> list[int] | None:
    first, _, last = key.partition("-")
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
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or end > 24 * 60 or start >= end:
        return None
    return start, end


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None
