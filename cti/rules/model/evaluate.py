"""Match a call event against the rules: the planned actions, in rule order, nothing performed."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from cti.calls.events import (
    AgentRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    CallTransferred,
)
from cti.rules.model.types import (
    Actions,
    Conditions,
    DealAction,
    OwnerPolicy,
    Rule,
    RuleSet,
    TaskAction,
    queue_names,
)

NOT_ANSWERED = frozenset({"missed", "abandoned", "busy", "failed", "no-answer"})


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What conditions are tested on: the event's moments and the call as the CRM sees it."""

    moments: frozenset[str]
    direction: str
    at: dt.datetime
    did: str | None = None  # normalized
    queue: str | None = None
    caller: str | None = None  # normalized
    caller_known: bool = False
    pbx: str | None = None  # the configured PBX (office) the call came through


@dataclass(frozen=True, slots=True)
class EnsureContact:
    rule_id: str
    create: bool


@dataclass(frozen=True, slots=True)
class PlaceDeal:
    rule_id: str
    deal: DealAction


@dataclass(frozen=True, slots=True)
class SetOwner:
    rule_id: str
    policy: OwnerPolicy


@dataclass(frozen=True, slots=True)
class AddTask:
    rule_id: str
    task: TaskAction


@dataclass(frozen=True, slots=True)
class LogCall:
    rule_id: str


PlannedAction = EnsureContact | PlaceDeal | SetOwner | AddTask | LogCall


@dataclass(frozen=True, slots=True)
class Plan:
    """The rules that matched, in order, and what they ask for."""

    rule_ids: tuple[str, ...]
    actions: tuple[PlannedAction, ...]

    @property
    def empty(self) -> bool:
        return not self.actions


def moments_of(event: CallEvent) -> frozenset[str]:
    """The moments an event stands for; an event that stands for none triggers no rule."""
    if isinstance(event, CallStarted):
        return frozenset({"started"})
    if isinstance(event, AgentRinging):
        return frozenset({"ringing"})
    if isinstance(event, CallAnswered):
        return frozenset({"answered"})
    if isinstance(event, CallTransferred):
        return frozenset({"transferred"})
    if isinstance(event, CallEnded):
        never_answered = not event.call.answered_agents and event.outcome != "answered"
        if never_answered and event.outcome in NOT_ANSWERED:
            return frozenset({"ended", "missed"})
        return frozenset({"ended"})
    return frozenset()


def facts_of(
    event: CallEvent,
    *,
    caller: str | None,
    did: str | None,
    caller_known: bool,
) -> CallFacts:
    """Facts for ``event``, given the normalized caller and DID and whether a contact has it."""
    return CallFacts(
        moments=moments_of(event),
        direction=event.call.direction,
        at=dt.datetime.fromtimestamp(event.at, dt.UTC),
        did=did,
        queue=event.call.queue,
        caller=caller,
        caller_known=caller_known,
        pbx=event.call.pbx,
    )


def evaluate(ruleset: RuleSet, facts: CallFacts) -> Plan:
    """Walk the rules in order: the first match wins, unless it says ``continue``."""
    if not facts.moments:
        return Plan((), ())
    matched: list[str] = []
    actions: list[PlannedAction] = []
    for rule in ruleset.rules:
        if not matches(ruleset, rule.when, facts):
            continue
        matched.append(rule.id)
        actions.extend(_planned(rule))
        if not rule.continue_after:
            break
    return Plan(tuple(matched), tuple(actions))


def matches(ruleset: RuleSet, when: Conditions, facts: CallFacts) -> bool:
    """True when every condition given holds for ``facts``."""
    return (
        _any_of(when.directions, facts.direction)
        and (not when.moments or bool(when.moments & facts.moments))
        and _any_of(when.dids, facts.did)
        and _queue_ok(when.queues, facts.queue, facts.pbx)
        and _any_of(when.pbxs, facts.pbx)
        and (when.caller is None or (when.caller == "known") == facts.caller_known)
        and _prefix_ok(when.caller_prefixes, facts.caller)
        and _pattern_ok(when.caller_pattern, facts.caller)
        and _hours_ok(ruleset, when.within_hours, facts.at, inside=True)
        and _hours_ok(ruleset, when.outside_hours, facts.at, inside=False)
    )


def _any_of(allowed: frozenset[str], value: str | None) -> bool:
    return not allowed or (value is not None and value in allowed)


def _queue_ok(allowed: frozenset[str], queue: str | None, pbx: str | None) -> bool:
    """``sales`` matches that queue on any PBX, ``east/sales`` only the east office's."""
    if not allowed:
        return True
    return queue is not None and any(name in allowed for name in queue_names(queue, pbx))


def _prefix_ok(prefixes: tuple[str, ...], caller: str | None) -> bool:
    if not prefixes:
        return True
    if caller is None:
        return False
    digits = caller.lstrip("+")
    return any(digits.startswith(prefix.lstrip("+")) for prefix in prefixes)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _pattern_ok(pattern: str | None, caller: str | None) -> bool:
    if pattern is None:
        return True
    return caller is not None and _compiled(pattern).search(caller) is not None


def _hours_ok(ruleset: RuleSet, name: str | None, at: dt.datetime, *, inside: bool) -> bool:
    if name is None:
        return True
    hours = ruleset.business_hours(name)
    if hours is None:  # parse_rules refuses this; a hand-built set fails closed
        return False
    return hours.is_open(at) == inside


def _planned(rule: Rule) -> list[PlannedAction]:
    then: Actions = rule.then
    planned: list[PlannedAction] = []
    if then.contact != "none":
        planned.append(EnsureContact(rule.id, create=then.contact == "find-or-create"))
    if then.deal is not None:
        planned.append(PlaceDeal(rule.id, then.deal))
    if then.owner is not None:
        planned.append(SetOwner(rule.id, then.owner))
    if then.task is not None:
        planned.append(AddTask(rule.id, then.task))
    if then.log_call:
        planned.append(LogCall(rule.id))
    return planned
