"""Read a rule document (a dict from TOML or JSON) into a RuleSet, naming every problem found."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cti.rules.model.types import (
    DIRECTIONS,
    MOMENTS,
    Actions,
    AnsweringAgent,
    BusinessHours,
    CallerKnown,
    Conditions,
    ContactOwner,
    DealAction,
    DealOwner,
    FixedUser,
    Group,
    LastAgentRung,
    OwnerPolicy,
    Problem,
    QueueGroup,
    RoundRobin,
    Rule,
    RuleSet,
    RulesInvalid,
    TaskAction,
    TaskAssignee,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_TOP_KEYS = {"version", "queues", "groups", "hours", "rules"}
_RULE_KEYS = {"id", "name", "continue", "when", "then"}
_WHEN_KEYS = {
    "direction", "did", "queue", "moment", "caller", "within_hours", "outside_hours",
    "caller_prefix", "caller_pattern",
}  # fmt: skip
_THEN_KEYS = {"contact", "deal", "owner", "task", "log_call"}
_CONTACT_MODES = ("find-or-create", "find", "none")
MAX_RULES = 200


class _Reader:
    """Collects problems while reading; raises them all at the end."""

    def __init__(self, normalize_number: Callable[[str], str]) -> None:
        self.problems: list[Problem] = []
        self.normalize_number = normalize_number

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def table(self, value: object, path: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, "must be a table")
            return {}
        for key in sorted(set(value) - allowed):
            self.fail(f"{path}.{key}" if path else key, "unknown key")
        return cast(Mapping[str, Any], value)

    def strings(self, value: object, path: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            self.fail(path, "must be a non-empty string or a list of them")
            return ()
        return tuple(cast(list[str], items))

    def choice(self, value: object, path: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        items = self.strings(value, path)
        for item in items:
            if item not in allowed:
                self.fail(path, f"{item!r} is not one of {', '.join(allowed)}")
        return items

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return False
        return value


def parse_rules(
    document: Mapping[str, Any], *, normalize_number: Callable[[str], str] = str
) -> RuleSet:
    """Read ``document``; raise RulesInvalid listing every problem, or return the rule set.

    ``normalize_number`` turns a DID as written into the form calls carry (E.164).
    """
    reader = _Reader(normalize_number)
    top = reader.table(document, "", _TOP_KEYS)
    version = top.get("version", 1)
    if version != 1:
        reader.fail("version", "only version 1 is known")
    queues = reader.strings(top["queues"], "queues") if "queues" in top else ()
    groups = _groups(reader, top.get("groups", {}))
    hours = _all_hours(reader, top.get("hours", {}))
    raw_rules = top.get("rules", [])
    rules: list[Rule] = []
    if not isinstance(raw_rules, list):
        reader.fail("rules", "must be a list of tables ([[rules]])")
    elif len(raw_rules) > MAX_RULES:
        reader.fail("rules", f"at most {MAX_RULES} rules")
    else:
        seen: set[str] = set()
        for index, raw in enumerate(raw_rules):
            rule = _rule(reader, raw, f"rules[{index}]")
            if rule is None:
                continue
            if rule.id in seen:
                reader.fail(f"rules[{index}].id", f"{rule.id!r} is used by an earlier rule")
            seen.add(rule.id)
            rules.append(rule)
    ruleset = RuleSet(tuple(rules), groups, hours, queues)
    _check_internal_references(reader, ruleset)
    if reader.problems:
        raise RulesInvalid(reader.problems)
    return ruleset


def _groups(reader: _Reader, raw: object) -> tuple[Group, ...]:
    groups: list[Group] = []
    for name, value in reader.table(
        raw, "groups", set(raw) if isinstance(raw, Mapping) else set()
    ).items():
        path = f"groups.{name}"
        body = reader.table(value, path, {"users", "queues"})
        if "users" not in body:
            reader.fail(f"{path}.users", "is required")
        users = reader.strings(body.get("users", []), f"{path}.users") if "users" in body else ()
        queues = reader.strings(body["queues"], f"{path}.queues") if "queues" in body else ()
        groups.append(Group(name=str(name), users=users, queues=queues))
    return tuple(groups)


def _all_hours(reader: _Reader, raw: object) -> tuple[BusinessHours, ...]:
    names = set(raw) if isinstance(raw, Mapping) else set()
    return tuple(
        _hours(reader, str(name), value, f"hours.{name}")
        for name, value in reader.table(raw, "hours", names).items()
    )


def _hours(reader: _Reader, name: str, raw: object, path: str) -> BusinessHours:
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


def _rule(reader: _Reader, raw: object, path: str) -> Rule | None:
    body = reader.table(raw, path, _RULE_KEYS)
    rule_id = body.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        reader.fail(f"{path}.id", "is required: lowercase letters, digits, '-', '_' or '.'")
        rule_id = None
    name = body.get("name", "")
    if not isinstance(name, str):
        reader.fail(f"{path}.name", "must be a string")
        name = ""
    continue_after = reader.boolean(body.get("continue", False), f"{path}.continue")
    when = _conditions(reader, body.get("when", {}), f"{path}.when")
    then = _actions(reader, body.get("then", {}), f"{path}.then")
    if rule_id is None:
        return None
    return Rule(id=rule_id, name=name, when=when, then=then, continue_after=continue_after)


def _conditions(reader: _Reader, raw: object, path: str) -> Conditions:
    body = reader.table(raw, path, _WHEN_KEYS)
    caller: CallerKnown | None = None
    if "caller" in body:
        if body["caller"] in ("known", "unknown"):
            caller = body["caller"]
        else:
            reader.fail(f"{path}.caller", "must be 'known' or 'unknown'")
    pattern = body.get("caller_pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            reader.fail(f"{path}.caller_pattern", "must be a regular expression")
            pattern = None
        else:
            try:
                re.compile(pattern)
            except re.error as err:
                reader.fail(f"{path}.caller_pattern", f"not a regular expression: {err}")
                pattern = None
    dids: list[str] = []
    for did in reader.strings(body["did"], f"{path}.did") if "did" in body else ():
        try:
            dids.append(reader.normalize_number(did))
        except ValueError as err:
            reader.fail(f"{path}.did", f"{did!r} is not a phone number: {err}")
    hours = {
        key: _name(reader, body[key], f"{path}.{key}")
        for key in ("within_hours", "outside_hours")
        if key in body
    }

    def _set(key: str, allowed: tuple[str, ...] | None = None) -> frozenset[str]:
        if key not in body:
            return frozenset()
        if allowed is None:
            return frozenset(reader.strings(body[key], f"{path}.{key}"))
        return frozenset(reader.choice(body[key], f"{path}.{key}", allowed))

    return Conditions(
        directions=_set("direction", DIRECTIONS),
        dids=frozenset(dids),
        queues=_set("queue"),
        moments=_set("moment", MOMENTS),
        caller=caller,
        within_hours=hours.get("within_hours"),
        outside_hours=hours.get("outside_hours"),
        caller_prefixes=(
            reader.strings(body["caller_prefix"], f"{path}.caller_prefix")
            if "caller_prefix" in body
            else ()
        ),
        caller_pattern=pattern,
    )


def _name(reader: _Reader, value: object, path: str) -> str | None:
    if not isinstance(value, str) or not value:
        reader.fail(path, "must be a name")
        return None
    return value


def _actions(reader: _Reader, raw: object, path: str) -> Actions:
    body = reader.table(raw, path, _THEN_KEYS)
    contact = body.get("contact", "find-or-create")
    if contact not in _CONTACT_MODES:
        reader.fail(f"{path}.contact", f"must be one of {', '.join(_CONTACT_MODES)}")
        contact = "find-or-create"
    deal = _deal(reader, body["deal"], f"{path}.deal") if "deal" in body else None
    owner: OwnerPolicy | None = None
    if "owner" in body:
        parsed = _policy(reader, body["owner"], f"{path}.owner", task=False)
        owner = cast(OwnerPolicy | None, parsed)
    task = _task(reader, body["task"], f"{path}.task") if "task" in body else None
    log_call = reader.boolean(body.get("log_call", True), f"{path}.log_call")
    if deal is not None and contact == "none":
        reader.fail(f"{path}.deal", "a deal needs a contact: contact must not be 'none'")
    return Actions(contact=contact, deal=deal, owner=owner, task=task, log_call=log_call)


def _deal(reader: _Reader, raw: object, path: str) -> DealAction | None:
    if raw is False:
        return None
    if raw is True:
        return DealAction()
    body = reader.table(raw, path, {"pipeline", "stage", "reuse_open"})
    pipeline = _name(reader, body["pipeline"], f"{path}.pipeline") if "pipeline" in body else None
    stage = _name(reader, body["stage"], f"{path}.stage") if "stage" in body else None
    reuse = reader.boolean(body.get("reuse_open", True), f"{path}.reuse_open")
    return DealAction(pipeline=pipeline, stage=stage, reuse_open=reuse)


def _task(reader: _Reader, raw: object, path: str) -> TaskAction | None:
    if raw is False:
        return None
    if raw is True:
        return TaskAction()
    body = reader.table(raw, path, {"title", "due_in_minutes", "assignee"})
    title = body.get("title", "Call back")
    if not isinstance(title, str) or not 0 < len(title) <= 200:
        reader.fail(f"{path}.title", "must be a text of 1 to 200 characters")
        title = "Call back"
    due = body.get("due_in_minutes", 15)
    if isinstance(due, bool) or not isinstance(due, int) or not 0 <= due <= 60 * 24 * 30:
        reader.fail(f"{path}.due_in_minutes", "must be a whole number of minutes, 0 to 43200")
        due = 15
    assignee: TaskAssignee = LastAgentRung()
    if "assignee" in body:
        parsed = _policy(reader, body["assignee"], f"{path}.assignee", task=True)
        assignee = cast(TaskAssignee, parsed or assignee)
    return TaskAction(title=title, due_in_minutes=due, assignee=assignee)


def _policy(
    reader: _Reader, raw: object, path: str, *, task: bool
) -> OwnerPolicy | TaskAssignee | None:
    fixed: dict[str, OwnerPolicy | TaskAssignee] = {
        "answering-agent": AnsweringAgent(),
        "contact-owner": ContactOwner(),
    }
    if task:
        del fixed["contact-owner"]
        fixed.update(
            {
                "last-agent-rung": LastAgentRung(),
                "queue-group": QueueGroup(),
                "deal-owner": DealOwner(),
            }
        )
    if isinstance(raw, str):
        if raw in fixed:
            return fixed[raw]
        kind, _, arg = raw.partition(":")
        if kind == "user" and arg:
            return FixedUser(arg)
        if kind == "round-robin" and arg:
            return RoundRobin(arg)
    choices = ", ".join([*fixed, "user:<login>", "round-robin:<group>"])
    reader.fail(path, f"must be one of {choices}")
    return None


def _check_internal_references(reader: _Reader, ruleset: RuleSet) -> None:
    """Names that must resolve inside the document itself: hours, groups, queues."""
    hour_names = {h.name for h in ruleset.hours}
    group_names = {g.name for g in ruleset.groups}
    queues = ruleset.known_queues()
    for index, rule in enumerate(ruleset.rules):
        path = f"rules[{index}]"
        for key in ("within_hours", "outside_hours"):
            name = getattr(rule.when, key)
            if name is not None and name not in hour_names:
                reader.fail(f"{path}.when.{key}", f"no hours called {name!r} under [hours]")
        for queue in sorted(rule.when.queues - queues):
            reader.fail(
                f"{path}.when.queue", f"unknown queue {queue!r}: declare it in queues = [...]"
            )
        policies = [rule.then.owner, rule.then.task.assignee if rule.then.task else None]
        for key, policy in zip(("then.owner", "then.task.assignee"), policies, strict=True):
            if isinstance(policy, RoundRobin) and policy.group not in group_names:
                reader.fail(f"{path}.{key}", f"no group called {policy.group!r} under [groups]")
