"""The call-back SLA counted in office hours, each office in its own time zone."""

from __future__ import annotations

import datetime as dt

import pytest

from crmlite.domain.office_hours import BadHours, OfficeHours, SlaClock, read_office_hours

MOSCOW = read_office_hours(
    "Europe/Moscow", {"mon-fri": ["09:00-13:00", "14:00-18:00"]}, ["2026-01-07"]
)
BERLIN = read_office_hours("Europe/Berlin", {"mon-fri": ["09:00-18:00"], "sat": ["10:00-14:00"]})
MSK = dt.timezone(dt.timedelta(hours=3))
UTC = dt.UTC
M15 = dt.timedelta(minutes=15)


def msk(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=MSK)  # 2026-01-05 is a Monday


@pytest.mark.parametrize(
    ("missed", "sla", "deadline"),
    [
        (msk(5, 10), M15, msk(5, 10, 15)),  # open: plain minutes
        (msk(5, 17, 50), M15, msk(6, 9, 5)),  # 10 minutes today, 5 at the next opening
        (msk(5, 19), M15, msk(6, 9, 15)),  # missed after closing: from the next opening
        (msk(5, 7), M15, msk(5, 9, 15)),  # before opening the same day
        (msk(5, 12, 50), M15, msk(5, 14, 5)),  # the lunch break does not count
        (msk(5, 13, 30), M15, msk(5, 14, 15)),  # missed during lunch
        (msk(6, 19), M15, msk(8, 9, 15)),  # Wednesday the 7th is a holiday
        (msk(9, 18, 30), M15, msk(12, 9, 15)),  # Friday evening: Monday morning
        (msk(10, 12), M15, msk(12, 9, 15)),  # Saturday
        (msk(5, 10), dt.timedelta(hours=9), msk(6, 11)),  # longer than a working day
        (msk(5, 17, 45), M15, msk(5, 18)),  # ends exactly at closing
    ],
)
def test_deadline_counts_open_time_only(
    missed: dt.datetime, sla: dt.timedelta, deadline: dt.datetime
) -> None:
    assert MOSCOW.deadline(missed, sla) == deadline


def test_each_office_its_own_zone_and_fallback() -> None:
    clock = SlaClock(default=MOSCOW, per_pbx={"west": BERLIN})
    missed = dt.datetime(2026, 1, 5, 16, 30, tzinfo=UTC)  # 19:30 Moscow, 17:30 Berlin
    assert clock.deadline(missed, "west", M15) == dt.datetime(2026, 1, 5, 16, 45, tzinfo=UTC)
    assert clock.deadline(missed, "east", M15) == msk(6, 9, 15)  # no own hours: install-wide
    assert clock.deadline(missed, None, M15) == msk(6, 9, 15)
    saturday = dt.datetime(2026, 1, 10, 12, 50, tzinfo=UTC)  # 13:50 Berlin, open till 14:00
    assert clock.deadline(saturday, "west", M15) == dt.datetime(2026, 1, 12, 8, 5, tzinfo=UTC)
    assert SlaClock().deadline(missed, "west", M15) == missed + M15
    assert SlaClock().plain
    assert not clock.plain


def test_daylight_saving_keeps_the_wall_clock() -> None:
    # Berlin moves to summer time on 2026-03-29 (a Sunday): Monday opens at 09:00 CEST = 07:00 UTC.
    friday = dt.datetime(2026, 3, 27, 17, 0, tzinfo=UTC)  # 18:00 CET, closed
    assert BERLIN.deadline(friday, M15) == dt.datetime(2026, 3, 28, 9, 15, tzinfo=UTC)
    sunday = dt.datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    assert BERLIN.deadline(sunday, M15) == dt.datetime(2026, 3, 30, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone", "days", "holidays", "message"),
    [
        ("Mars/Olympus", {"mon": ["09:00-18:00"]}, [], "unknown timezone"),
        ("UTC", {"monday": ["09:00-18:00"]}, [], "a day is mon..sun"),
        ("UTC", {"fri-mon": ["09:00-18:00"]}, [], "a day is mon..sun"),
        ("UTC", {"mon": ["18:00-09:00"]}, [], "not a window"),
        ("UTC", {"mon": ["9-18"]}, [], "not a window"),
        ("UTC", {"mon": []}, [], "never open"),
        ("UTC", {}, [], "name the opening days"),
        ("UTC", {"mon": ["09:00-18:00"]}, ["Jan 1"], "not a date"),
    ],
)
def test_bad_hours_say_what_is_wrong(
    timezone: str, days: dict[str, list[str]], holidays: list[str], message: str
) -> None:
    with pytest.raises(BadHours, match=message):
        read_office_hours(timezone, days, holidays)


def test_round_the_clock_window() -> None:
    hours = read_office_hours("UTC", {"mon-sun": ["00:00-24:00"]})
    at = dt.datetime(2026, 1, 5, 23, 55, tzinfo=UTC)
    assert hours.deadline(at, M15) == at + M15
    assert isinstance(hours, OfficeHours)


def test_settings_build_each_office_its_hours_and_refuse_bad_ones() -> None:
    from pydantic import ValidationError

    from cti.settings import Settings, sla_clock

    pbx = {"username": "cti", "secret": "s"}
    settings = Settings.model_validate(
        {
            "callbacks": {"timezone": "Europe/Moscow", "hours": {"mon-fri": ["09:00-18:00"]}},
            "pbx": [
                {"name": "east", **pbx},
                {"name": "west", **pbx, "timezone": "Europe/Berlin"},
                {"name": "south", **pbx, "hours": {"sat": ["10:00-14:00"]}},
            ],
        }
    )
    clock = sla_clock(settings)
    assert clock.hours_of("east") == clock.default
    assert clock.hours_of("west") == read_office_hours(
        "Europe/Berlin", {"mon-fri": ["09:00-18:00"]}
    )
    assert clock.hours_of("south") == read_office_hours("Europe/Moscow", {"sat": ["10:00-14:00"]})
    assert sla_clock(Settings()).plain
    with pytest.raises(ValidationError, match="office hours: 'monday'"):
        Settings.model_validate({"callbacks": {"hours": {"monday": ["09:00-18:00"]}}})
    with pytest.raises(ValidationError, match="west: a timezone needs hours"):
        Settings.model_validate({"pbx": [{"name": "west", **pbx, "timezone": "Europe/Berlin"}]})


@pytest.mark.parametrize(
    ("start", "end", "open_minutes"),
    [
        (msk(5, 10), msk(5, 10, 20), 20),  # all of it open
        (msk(5, 19), msk(6, 9, 5), 5),  # overnight: only the morning's five minutes
        (msk(5, 12, 50), msk(5, 14, 10), 20),  # the lunch break does not count
        (msk(6, 17, 55), msk(8, 9, 5), 10),  # across the holiday on the 7th
        (msk(9, 17), msk(12, 10), 120),  # Friday's last hour, the weekend, Monday's first
        (msk(5, 10), msk(5, 9), 0),  # an end before the start waited nothing
    ],
)
def test_open_time_between_two_moments(
    start: dt.datetime, end: dt.datetime, open_minutes: int
) -> None:
    assert MOSCOW.open_between(start, end) == dt.timedelta(minutes=open_minutes)
    if open_minutes:  # the deadline and the open time agree with each other
        assert MOSCOW.deadline(start, dt.timedelta(minutes=open_minutes)) <= end


def test_open_time_per_office_and_round_the_clock() -> None:
    clock = SlaClock(default=MOSCOW, per_pbx={"west": BERLIN})
    start = dt.datetime(2026, 1, 5, 16, 0, tzinfo=UTC)  # 19:00 Moscow (closed), 17:00 Berlin
    end = start + dt.timedelta(minutes=30)
    assert clock.open_time(start, end, "west") == dt.timedelta(minutes=30)
    assert clock.open_time(start, end, "east") == dt.timedelta()
    assert SlaClock().open_time(start, end, None) == dt.timedelta(minutes=30)
