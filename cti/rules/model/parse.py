"""Read a rule document (a dict from TOML or JSON) into a RuleSet, naming every problem found."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from cti.rules.model.hours import read_all_hours
from cti.rules.model.reader import Reader
from cti.rules.model.types import (
    DIRECTIONS,
    MOMENTS,
    Actions,
    AnsweringAgent,
    CallerKnown,
    Conditions,
    ContactOwner,
    DealAction,
    DealOwner,
    FixedUser,
    Group,
    LastAgentRung,
    OwnerPolicy,
    QueueGroup,
    RoundRobin,
    Rule,
    RuleSet,
    RulesInvalid,
    TaskAction,
    TaskAssignee,
)

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_TOP_KEYS = {"version", "queues", "groups", "hours", "rules"}
_RULE_KEYS = {"id", "name", "continue", "when", "then"}
_WHEN_KEYS = {
    "direction", "did", "queue", "moment", "caller", "within_hours", "outside_hours",
    "caller_prefix", "caller_pattern", "pbx",
}  # fmt: skip
_THEN_KEYS = {"contact", "deal", "owner", "task", "log_call"}
_CONTACT_MODES = ("find-or-create", "find", "none")
MAX_RULES = 200


def parse_rules(
    document: Mapping[str, Any], *, normalize_number: Callable[[str], str] = str
) -> RuleSet:
    """Read ``document``; raise RulesInvalid listing every problem, or return the rule set.

    ``normalize_number`` turns a DID as written into the form calls carry (E.164).
    """
    reader = Reader(normalize_number)
    top = reader.table(document, "", _TOP_KEYS)
    version = top.get("version", 1)
    if version != 1:
        reader.fail("version", "only version 1 is known")
    queues = reader.strings(top["queues"], "queues") if "queues" in top else ()
    groups = _groups(reader, top.get("groups", {}))
    hours = read_all_hours(reader, top.get("hours", {}))
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


def _groups(reader: Reader, raw: object) -> tuple[Group, ...]:
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


def _rule(reader: Reader, raw: object, path: str) -> Rule | None:
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


def _conditions(reader: Reader, raw: object, path: str) -> Conditions:
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
        pbxs=_set("pbx"),
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


def _name(reader: Reader, value: object, path: str) -> str | None:
    if not isinstance(value, str) or not value:
        reader.fail(path, "must be a name")
        return None
    return value


def _actions(reader: Reader, raw: object, path: str) -> Actions:
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


def _deal(reader: Reader, raw: object, path: str) -> DealAction | None:
    if raw is False:
        return None
    if raw is True:
        return DealAction()
    body = reader.table(raw, path, {"pipeline", "stage", "reuse_open"})
    pipeline = _name(reader, body["pipeline"], f"{path}.pipeline") if "pipeline" in body else None
    stage = _name(reader, body["stage"], f"{path}.stage") if "stage" in body else None
    reuse = reader.boolean(body.get("reuse_open", True), f"{path}.reuse_open")
    return DealAction(pipeline=pipeline, stage=stage, reuse_open=reuse)


def _task(reader: Reader, raw: object, path: str) -> TaskAction | None:
    if raw is False:
        return None
    if raw is True:
        return TaskAction()
    body = reader.table(raw, path, {"title", "due_in_minutes", "assignee"})
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or not 0 < len(title) <= 200):
        reader.fail(f"{path}.title", "must be a text of 1 to 200 characters")
        title = None
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
    reader: Reader, raw: object, path: str, *, task: bool
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


def _check_internal_references(reader: Reader, ruleset: RuleSet) -> None:
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
