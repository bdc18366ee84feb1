"""Stage robots' pure rules: settings checked field by field, steps due once per stay."""

from __future__ import annotations

import datetime as dt

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.robots import (
    STUCK_TASK_TITLES,
    FieldParams,
    NotifyParams,
    SendParams,
    Step,
    StuckParams,
    TaskParams,
    enter_due,
    entry_key,
    idle_days,
    idle_since,
    params_document,
    parse_params,
    run_order,
    step_effect,
    stuck_steps,
    stuck_task_title,
    stuck_threshold,
    with_tag,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("trigger", "action", "raw", "expected"),
    [
        (
            "enter",
            "create_task",
            {"title": "  Call   them ", "due_in": 4, "due_unit": "hours"},
            TaskParams("Call them", dt.timedelta(hours=4), None),
        ),
        (
            "enter",
            "create_task",
            {"title": "Send offer", "due_in": 2, "assignee_id": 7},
            TaskParams("Send offer", dt.timedelta(days=2), 7),
        ),
        ("enter", "notify_owner", {}, NotifyParams("")),
        ("enter", "set_field", {"probability": 40}, FieldParams(40, None)),
        ("enter", "set_field", {"add_tag": "hot"}, FieldParams(None, "hot")),
        ("enter", "send_to_pipeline", {"pipeline_id": 3}, SendParams(3, None)),
        (
            "stuck",
            "nudge",
            {"days": 3, "escalate_after_days": 2, "mark_stalled": True},
            StuckParams(3, 2, True, ""),
        ),
    ],
)
def test_valid_settings_parse(
    trigger: str, action: str, raw: dict[str, object], expected: object
) -> None:
    params = parse_params(trigger, action, raw)
    assert params == expected
    # What is stored reads back the same.
    assert parse_params(trigger, action, params_document(params)) == params


@pytest.mark.parametrize(
    ("trigger", "action", "raw", "fields"),
    [
        ("enter", "create_task", {}, {"params.title"}),
        ("enter", "create_task", {"title": "x", "due_in": -1}, {"params.due_in"}),
        ("enter", "create_task", {"title": "x", "due_in": 400}, {"params.due_in"}),
        ("enter", "create_task", {"title": "x", "due_unit": "weeks"}, {"params.due_unit"}),
        ("enter", "create_task", {"title": "x", "colour": "red"}, {"params.colour"}),
        ("enter", "create_task", {"title": 5}, {"params.title"}),
        ("enter", "set_field", {}, {"params"}),
        ("enter", "set_field", {"probability": 101}, {"params.probability"}),
        ("enter", "set_field", {"probability": True}, {"params.probability"}),
        ("enter", "send_to_pipeline", {}, {"params.pipeline_id"}),
        ("stuck", "nudge", {}, {"params.days"}),
        ("stuck", "nudge", {"days": 0}, {"params.days"}),
        ("stuck", "nudge", {"days": 2, "mark_stalled": "yes"}, {"params.mark_stalled"}),
        ("enter", "nudge", {"days": 2}, {"action"}),
        ("stuck", "create_task", {"title": "x"}, {"action"}),
        ("later", "nudge", {}, {"trigger"}),
    ],
)
def test_invalid_settings_name_their_field(
    trigger: str, action: str, raw: dict[str, object], fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_params(trigger, action, raw)
    assert set(caught.value.fields) == fields


def test_an_entry_key_names_one_stay() -> None:
    assert entry_key(5, 9, T0) == entry_key(5, 9, T0.astimezone(dt.timezone(dt.timedelta(hours=3))))
    assert entry_key(5, 9, T0) != entry_key(5, 9, T0 + dt.timedelta(microseconds=1))
    assert entry_key(5, 9, T0) != entry_key(5, 10, T0)
    assert step_effect(4, Step.ENTER) != step_effect(4, Step.NUDGE)


@pytest.mark.parametrize(
    ("active_since", "entered_at", "due"),
    [(T0, T0, True), (T0, T0 + DAY, True), (T0, T0 - dt.timedelta(seconds=1), False)],
)
def test_entry_robots_act_on_deals_entering_while_on(
    active_since: dt.datetime, entered_at: dt.datetime, due: bool
) -> None:
    assert enter_due(active_since, entered_at) is due


STUCK = StuckParams(days=3, escalate_after_days=2, mark_stalled=False, task_title="")
NO_ESCALATION = StuckParams(days=3, escalate_after_days=None, mark_stalled=True, task_title="")


@pytest.mark.parametrize(
    ("params", "idle", "done", "due"),
    [
        (STUCK, 2 * DAY, frozenset(), []),
        (STUCK, 3 * DAY, frozenset(), [Step.NUDGE]),
        (STUCK, 4 * DAY, frozenset({Step.NUDGE}), []),
        (STUCK, 5 * DAY, frozenset({Step.NUDGE}), [Step.ESCALATE]),
        # A service down for a week catches up on both at once.
        (STUCK, 7 * DAY, frozenset(), [Step.NUDGE, Step.ESCALATE]),
        (STUCK, 9 * DAY, frozenset({Step.NUDGE, Step.ESCALATE}), []),
        (NO_ESCALATION, 30 * DAY, frozenset({Step.NUDGE}), []),
    ],
)
def test_stuck_steps_fire_once_each(
    params: StuckParams, idle: dt.timedelta, done: frozenset[Step], due: list[Step]
) -> None:
    assert stuck_steps(params, T0, T0 + idle, done) == due


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        ((), T0),
        ((None, None), T0),
        ((T0 - DAY,), T0),  # activity before the entry does not count
        ((T0 + DAY, None, T0 + 2 * DAY), T0 + 2 * DAY),
    ],
)
def test_the_stuck_clock_starts_at_the_latest_activity(
    activity: tuple[dt.datetime | None, ...], expected: dt.datetime
) -> None:
    assert idle_since(T0, activity) == expected


def test_a_call_resets_the_clock_so_no_nudge_is_due() -> None:
    called = idle_since(T0, (T0 + 2 * DAY,))
    assert stuck_steps(STUCK, called, T0 + 4 * DAY, frozenset()) == []
    assert stuck_steps(STUCK, T0, T0 + 4 * DAY, frozenset()) == [Step.NUDGE]


def test_thresholds_days_tags_and_order() -> None:
    assert stuck_threshold([]) is None
    assert stuck_threshold([5, 3, 9]) == 3
    assert idle_days(T0, T0 + 3 * DAY + dt.timedelta(hours=23)) == 3
    assert idle_days(T0, T0 - DAY) == 0
    assert with_tag(["Hot"], "hot") == ["Hot"]
    assert with_tag(["a"], "b") == ["a", "b"]
    assert with_tag([str(i) for i in range(20)], "x") == [str(i) for i in range(20)]
    ordered = sorted(
        [("send_to_pipeline", 1), ("create_task", 3), ("notify_owner", 2)],
        key=lambda r: run_order(*r),
    )
    assert [a for a, _ in ordered] == ["notify_owner", "create_task", "send_to_pipeline"]


def test_the_nudge_task_title_speaks_the_install_language_and_fits() -> None:
    assert stuck_task_title(STUCK_TASK_TITLES["ru"], "Фургоны") == "Сделка зависла: Фургоны"
    assert set(STUCK_TASK_TITLES) == {"en", "ru", "zh-CN", "fa"}
    assert len(stuck_task_title(STUCK_TASK_TITLES["en"], "x" * 300)) == 200
