"""Stage robots: what a robot may be told to do, and when each of its steps is due.

A robot belongs to one pipeline stage. An ``enter`` robot acts once when a deal enters the stage
(create a task, notify the owner, set a field, send the deal to another pipeline); a ``stuck``
robot watches deals that stay in the stage without activity: it nudges the owner after ``days``,
escalates to the heads ``escalate_after_days`` later, and may mark the deal stalled.

Every step fires at most once per stage entry. An entry is named by the deal, the stage and the
moment the deal entered it (``entry_key``); the services store ``(entry_key, step_effect)`` under a
unique constraint, the way call effects are keyed by ``(linkedid, effect)``. This module decides;
it neither reads nor writes anything.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from crmlite.domain.errors import InvalidInput

MAX_DAYS: Final = 365
MAX_HOURS: Final = 24 * MAX_DAYS
TITLE_MAX: Final = 200
MESSAGE_MAX: Final = 500
TAG_MAX: Final = 50
TAGS_PER_DEAL: Final = 20


class Trigger(enum.StrEnum):
    ENTER = "enter"
    STUCK = "stuck"


class Action(enum.StrEnum):
    CREATE_TASK = "create_task"
    NOTIFY_OWNER = "notify_owner"
    SET_FIELD = "set_field"
    SEND_TO_PIPELINE = "send_to_pipeline"
    NUDGE = "nudge"


ACTIONS: Final[Mapping[Trigger, tuple[Action, ...]]] = {
    Trigger.ENTER: (
        Action.CREATE_TASK,
        Action.NOTIFY_OWNER,
        Action.SET_FIELD,
        Action.SEND_TO_PIPELINE,
    ),
    Trigger.STUCK: (Action.NUDGE,),
}


class Step(enum.StrEnum):
    """What one firing of a robot did; part of its effect key."""

    ENTER = "enter"
    NUDGE = "nudge"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class TaskParams:
    title: str
    due_in: dt.timedelta
    # None: the deal's owner.
    assignee_id: int | None


@dataclass(frozen=True, slots=True)
class NotifyParams:
    message: str


@dataclass(frozen=True, slots=True)
class FieldParams:
    probability: int | None
    add_tag: str | None


@dataclass(frozen=True, slots=True)
class SendParams:
    pipeline_id: int
    # None: the target pipeline's first open stage after Unsorted.
    stage_id: int | None


@dataclass(frozen=True, slots=True)
class StuckParams:
    days: int
    escalate_after_days: int | None
    mark_stalled: bool
    task_title: str


RobotParams = TaskParams | NotifyParams | FieldParams | SendParams | StuckParams


def parse_params(trigger: str, action: str, raw: Mapping[str, object]) -> RobotParams:
    """Check a robot's settings; every problem is named by its field, all at once."""
    problems: dict[str, str] = {}
    try:
        when = Trigger(trigger)
    except ValueError:
        raise InvalidInput(
            "unknown trigger", fields={"trigger": f"one of: {', '.join(Trigger)}"}
        ) from None
    allowed = ACTIONS[when]
    if action not in allowed:
        raise InvalidInput(
            f"a {when.value} robot cannot {action}",
            fields={"action": f"one of: {', '.join(allowed)}"},
        )
    reader = _Reader(raw, problems)
    params = _PARSERS[Action(action)](reader)
    reader.no_unknown()
    if problems:
        raise InvalidInput("the robot's settings are not valid", fields=problems)
    return params


class _Reader:
    """Reads typed params and records what is wrong under ``params.<name>``."""

    def __init__(self, raw: Mapping[str, object], problems: dict[str, str]) -> None:
        self.raw = raw
        self.problems = problems
        self.read: set[str] = set()

    def _bad(self, name: str, why: str) -> None:
        self.problems[f"params.{name}"] = why

    def text(self, name: str, *, limit: int, required: bool) -> str:
        self.read.add(name)
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self._bad(name, "required")
            return ""
        if not isinstance(value, str):
            self._bad(name, "must be text")
            return ""
        clean = " ".join(value.split())
        if len(clean) > limit:
            self._bad(name, f"at most {limit} characters")
        return clean

    def integer(self, name: str, *, low: int, high: int, required: bool) -> int | None:
        self.read.add(name)
        value = self.raw.get(name)
        if value is None:
            if required:
                self._bad(name, "required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(name, "must be a whole number")
            return None
        if not low <= value <= high:
            self._bad(name, f"must be between {low} and {high}")
            return None
        return value

    def flag(self, name: str) -> bool:
        self.read.add(name)
        value = self.raw.get(name, False)
        if not isinstance(value, bool):
            self._bad(name, "must be true or false")
            return False
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        self.read.add(name)
        value = self.raw.get(name, default)
        if value not in options:
            self._bad(name, f"one of: {', '.join(options)}")
            return default
        return str(value)

    def no_unknown(self) -> None:
        for name in sorted(set(self.raw) - self.read):
            self._bad(name, "not a setting of this action")


def _task(reader: _Reader) -> TaskParams:
    title = reader.text("title", limit=TITLE_MAX, required=True)
    unit = reader.choice("due_unit", ("hours", "days"), "days")
    high = MAX_HOURS if unit == "hours" else MAX_DAYS
    amount = reader.integer("due_in", low=0, high=high, required=False) or 0
    due_in = dt.timedelta(hours=amount) if unit == "hours" else dt.timedelta(days=amount)
    assignee = reader.integer("assignee_id", low=1, high=2**31 - 1, required=False)
    return TaskParams(title, due_in, assignee)


def _notify(reader: _Reader) -> NotifyParams:
    return NotifyParams(reader.text("message", limit=MESSAGE_MAX, required=False))


def _set_field(reader: _Reader) -> FieldParams:
    probability = reader.integer("probability", low=0, high=100, required=False)
    tag = reader.text("add_tag", limit=TAG_MAX, required=False) or None
    if probability is None and tag is None and not reader.problems:
        reader.problems["params"] = "set probability, add_tag, or both"
    return FieldParams(probability, tag)


def _send(reader: _Reader) -> SendParams:
    pipeline = reader.integer("pipeline_id", low=1, high=2**31 - 1, required=True)
    stage = reader.integer("stage_id", low=1, high=2**31 - 1, required=False)
    return SendParams(pipeline or 0, stage)


def _nudge(reader: _Reader) -> StuckParams:
    days = reader.integer("days", low=1, high=MAX_DAYS, required=True)
    escalate = reader.integer("escalate_after_days", low=1, high=MAX_DAYS, required=False)
    stalled = reader.flag("mark_stalled")
    title = reader.text("task_title", limit=TITLE_MAX, required=False)
    return StuckParams(days or 1, escalate, stalled, title)


_PARSERS: Final[Mapping[Action, Callable[[_Reader], RobotParams]]] = {
    Action.CREATE_TASK: _task,
    Action.NOTIFY_OWNER: _notify,
    Action.SET_FIELD: _set_field,
    Action.SEND_TO_PIPELINE: _send,
    Action.NUDGE: _nudge,
}


def params_document(params: RobotParams) -> dict[str, object]:
    """The params as stored and answered (the inverse of ``parse_params``)."""
    if isinstance(params, TaskParams):
        hours = int(params.due_in.total_seconds() // 3600)
        whole_days = hours % 24 == 0
        return {
            "title": params.title,
            "due_in": hours // 24 if whole_days else hours,
            "due_unit": "days" if whole_days else "hours",
            "assignee_id": params.assignee_id,
        }
    if isinstance(params, NotifyParams):
        return {"message": params.message}
    if isinstance(params, FieldParams):
        return {"probability": params.probability, "add_tag": params.add_tag}
    if isinstance(params, SendParams):
        return {"pipeline_id": params.pipeline_id, "stage_id": params.stage_id}
    return {
        "days": params.days,
        "escalate_after_days": params.escalate_after_days,
        "mark_stalled": params.mark_stalled,
        "task_title": params.task_title,
    }


# --- When steps are due -----------------------------------------------------------------------


def entry_key(deal_id: int, stage_id: int, entered_at: dt.datetime) -> str:
    """Name one stay of a deal in a stage: the same entry always gives the same key."""
    micros = int(entered_at.astimezone(dt.UTC).timestamp() * 1_000_000)
    return f"{deal_id}:{stage_id}:{micros}"


def step_effect(robot_id: int, step: Step) -> str:
    return f"robot:{robot_id}:{step.value}"


def enter_due(active_since: dt.datetime, entered_at: dt.datetime) -> bool:
    """An entry robot acts on the deals that entered its stage while it was switched on."""
    return entered_at >= active_since


def idle_since(entered_at: dt.datetime, activity_at: Iterable[dt.datetime | None]) -> dt.datetime:
    """When the stuck clock started: the entry, or the latest activity after it."""
    return max([entered_at, *(at for at in activity_at if at is not None)])


def stuck_steps(
    params: StuckParams, idle_from: dt.datetime, now: dt.datetime, done: frozenset[Step]
) -> list[Step]:
    """The steps of a stuck robot due now for one entry, given the ones already done."""
    idle = now - idle_from
    due: list[Step] = []
    if idle >= dt.timedelta(days=params.days) and Step.NUDGE not in done:
        due.append(Step.NUDGE)
    escalate = params.escalate_after_days
    late = escalate is not None and idle >= dt.timedelta(days=params.days + escalate)
    if late and Step.ESCALATE not in done:
        due.append(Step.ESCALATE)
    return due


def stuck_threshold(days: Iterable[int]) -> int | None:
    """A stage's deals count as stuck after its shortest stuck robot's days (None: no robot)."""
    found = list(days)
    return min(found) if found else None


def idle_days(idle_from: dt.datetime, now: dt.datetime) -> int:
    """Whole days without activity, for the board's "stuck for" badge."""
    return max(0, (now - idle_from).days)


def with_tag(tags: Iterable[str], tag: str) -> list[str]:
    """Add ``tag`` once (case-insensitively), keeping the order and the per-deal cap."""
    kept = list(tags)
    if tag.casefold() in {t.casefold() for t in kept} or len(kept) >= TAGS_PER_DEAL:
        return kept
    return [*kept, tag]


def run_order(action: str, position: int) -> tuple[int, int]:
    """Entry robots run by position, but a send to another pipeline last: it ends the stay."""
    return (1 if action == Action.SEND_TO_PIPELINE else 0, position)


# The title of a stuck robot's task when it names none, in the install's language
# (``[i18n] default_locale``, like the other text the product writes).
STUCK_TASK_TITLES: Final[Mapping[str, str]] = {
    "en": "Stuck deal: {title}",
    "ru": "Сделка зависла: {title}",
    "zh-CN": "商机停滞：{title}",
    "fa": "معامله راکد: {title}",
}


def stuck_task_title(template: str, deal_title: str) -> str:
    """The nudge task's title: ``template`` with the deal's title, cut to fit the column."""
    return template.replace("{title}", deal_title)[:TITLE_MAX]
