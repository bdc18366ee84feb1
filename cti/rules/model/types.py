"""The call-to-deal rule set as frozen values: conditions, actions and business hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

Moment: TypeAlias = Literal["started", "ringing", "answered", "transferred", "missed", "ended"]
MOMENTS: tuple[Moment, ...] = ("started", "ringing", "answered", "transferred", "missed", "ended")
DIRECTIONS = ("inbound", "outbound", "internal", "unknown")
CallerKnown: TypeAlias = Literal["known", "unknown"]


@dataclass(frozen=True, slots=True)
class AnsweringAgent:
    """The user of the extension holding the call (follows transfers)."""

    kind: Literal["answering-agent"] = "answering-agent"


@dataclass(frozen=True, slots=True)
class ContactOwner:
    """Whoever already owns the contact."""

    kind: Literal["contact-owner"] = "contact-owner"


@dataclass(frozen=True, slots=True)
class DealOwner:
    """Whoever owns the call's deal (for tasks)."""

    kind: Literal["deal-owner"] = "deal-owner"


@dataclass(frozen=True, slots=True)
class LastAgentRung:
    """The user of the last extension that rang for the call."""

    kind: Literal["last-agent-rung"] = "last-agent-rung"


@dataclass(frozen=True, slots=True)
class QueueGroup:
    """Round-robin within the group that serves the call's queue."""

    kind: Literal["queue-group"] = "queue-group"


@dataclass(frozen=True, slots=True)
class FixedUser:
    """One named user (by login)."""

    login: str
    kind: Literal["user"] = "user"


@dataclass(frozen=True, slots=True)
class RoundRobin:
    """The next member of a named group, in turn."""

    group: str
    kind: Literal["round-robin"] = "round-robin"


OwnerPolicy: TypeAlias = AnsweringAgent | ContactOwner | FixedUser | RoundRobin
TaskAssignee: TypeAlias = (
    LastAgentRung | QueueGroup | DealOwner | AnsweringAgent | FixedUser | RoundRobin
)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening windows in a timezone, closed on holidays."""

    name: str
    timezone: str
    # Weekday (0 = Monday) -> windows as (start, end) minutes after local midnight, end exclusive.
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date] = frozenset()

    def is_open(self, at: dt.datetime) -> bool:
        """True when the aware moment ``at`` falls inside a window on a working day."""
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly[local.weekday()])


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a call must be for a rule to match; an empty field matches anything."""

    directions: frozenset[str] = frozenset()
    dids: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    moments: frozenset[str] = frozenset()
    caller: CallerKnown | None = None
    within_hours: str | None = None
    outside_hours: str | None = None
    caller_prefixes: tuple[str, ...] = ()
    caller_pattern: str | None = None
    # The PBXs (offices, by configured name) the call must come through; a list is any of them.
    pbxs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DealAction:
    """Place the call on a deal: the contact's open one when allowed, else a new one."""

    pipeline: str | None = None  # None: the default pipeline
    stage: str | None = None  # None: that pipeline's Unsorted stage
    reuse_open: bool = True


@dataclass(frozen=True, slots=True)
class TaskAction:
    # None: the product's own title in the install's language ("Missed call from {caller}..."); a
    # rule's own title may hold {caller} too.
    title: str | None = None
    due_in_minutes: int = 15
    assignee: TaskAssignee = field(default_factory=LastAgentRung)


@dataclass(frozen=True, slots=True)
class Actions:
    contact: Literal["find-or-create", "find", "none"] = "find-or-create"
    deal: DealAction | None = None
    owner: OwnerPolicy | None = None
    task: TaskAction | None = None
    log_call: bool = True


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: Conditions
    then: Actions
    name: str = ""
    continue_after: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    """Users who share work: round-robin targets, and the group that serves some queues."""

    name: str
    users: tuple[str, ...]
    queues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    groups: tuple[Group, ...] = ()
    hours: tuple[BusinessHours, ...] = ()
    queues: tuple[str, ...] = ()  # the PBX queues rules may name

    def group(self, name: str) -> Group | None:
        """The group called ``name``."""
        return next((g for g in self.groups if g.name == name), None)

    def group_of_queue(self, queue: str | None, pbx: str | None = None) -> Group | None:
        """The first group serving ``queue``: by its PBX's name (``east/sales``), else by name.

        The same queue name in two PBXs is two queues; a group naming the bare ``sales`` serves
        both, one naming ``east/sales`` only the east office's.
        """
        if queue is None:
            return None
        for name in queue_names(queue, pbx):
            found = next((g for g in self.groups if name in g.queues), None)
            if found is not None:
                return found
        return None

    def business_hours(self, name: str) -> BusinessHours | None:
        """The hours called ``name``."""
        return next((h for h in self.hours if h.name == name), None)

    @property
    def asks_if_caller_known(self) -> bool:
        """True when some rule tests whether the caller is a known contact."""
        return any(rule.when.caller is not None for rule in self.rules)

    def known_queues(self) -> frozenset[str]:
        """Every queue declared at the top or served by a group."""
        return frozenset(self.queues).union(*(g.queues for g in self.groups))


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule document: where (``rules[2].when.moment``) and what."""

    path: str
    message: str


class RulesInvalid(Exception):
    """The rule document is refused; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def queue_names(queue: str, pbx: str | None) -> tuple[str, ...]:
    """The names a rule may give a PBX's queue: ``east/sales`` first, then ``sales``."""
    return (f"{pbx}/{queue}", queue) if pbx else (queue,)
