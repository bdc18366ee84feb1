"""Perform what the rules plan for a call event through the CRM's services, exactly once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.domain.phones import PhoneRules
from crmlite.domain.pool import RingPolicy
from crmlite.domain.product_text import ProductText, product_text
from crmlite.services.call_catalog import CallCatalog, CallCatalogCache
from crmlite.services.call_effects import customer_phone
from crmlite.services.call_log import record_call
from crmlite.services.call_work import (
    Assignee,
    CallEffects,
    CallRecord,
    CallWork,
    ContactMode,
    DealRequest,
    OwnerRequest,
    TaskRequest,
)
from crmlite.services.phones import find_phone_owner
from crmlite.services.rule_sets import stage_ids, user_ids_by_login
from crmlite.services.telephony_users import TelephonyUserCache
from crmlite.services.users import users_by_telephony
from cti.calls.events import CallEvent, CallSnapshot
from cti.rules.model import (
    AddTask,
    AnsweringAgent,
    ContactOwner,
    DealOwner,
    EnsureContact,
    FixedUser,
    LogCall,
    OwnerPolicy,
    PlaceDeal,
    Plan,
    QueueGroup,
    RoundRobin,
    RuleSet,
    SetOwner,
    TaskAssignee,
    evaluate,
    facts_of,
)


@dataclass(frozen=True, slots=True)
class CrmOutcome:
    """What the CRM holds for a call after one event: the ids a screen pop links to."""

    linkedid: str
    event: str
    rule_ids: tuple[str, ...] = ()
    contact_id: int | None = None
    contact_created: bool = False
    deal_id: int | None = None
    deal_created: bool = False
    owner_id: int | None = None
    owner_changed: bool = False
    task_ids: tuple[int, ...] = ()
    tasks_created: tuple[int, ...] = ()
    call_activity_id: int | None = None
    blocked: bool = False
    applied: tuple[str, ...] = ()  # effect keys this event wrote (empty on a replay)
    recorded: frozenset[str] = frozenset()  # every effect key the call has after this event
    # True when the database could not be reached: the event waits in the retry queue.
    pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "linkedid": self.linkedid,
            "event": self.event,
            "rule_ids": list(self.rule_ids),
            "contact_id": self.contact_id,
            "contact_created": self.contact_created,
            "deal_id": self.deal_id,
            "deal_created": self.deal_created,
            "owner_id": self.owner_id,
            "owner_changed": self.owner_changed,
            "task_ids": list(self.task_ids),
            "tasks_created": list(self.tasks_created),
            "call_activity_id": self.call_activity_id,
            "blocked": self.blocked,
            "applied": list(self.applied),
            "pending": self.pending,
        }


def _utc(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def customer_side(call: CallSnapshot) -> tuple[str | None, str | None, str | None]:
    """(customer number, customer name, our number) for the call's direction."""
    if call.direction == "inbound":
        return call.caller, call.caller_name, call.called
    if call.direction == "outbound":
        return call.called, None, call.agent or call.caller
    return None, None, None


class RuleExecutor:
    """Evaluate the rules for one event and apply the plan inside the caller's transaction."""

    def __init__(
        self,
        phone_rules: PhoneRules,
        *,
        recording_base_url: str | None = None,
        text: ProductText | None = None,
        pool_ring: RingPolicy = RingPolicy.PREVIOUS_OWNER,
        users: TelephonyUserCache | None = None,
        catalog: CallCatalogCache | None = None,
        office_numbers: frozenset[str] = frozenset(),
    ) -> None:
        self.phone_rules = phone_rules
        self.recording_base_url = recording_base_url
        # The titles the product writes, in the install's language ([i18n] default_locale).
        self.text = text or product_text("en")
        self.pool_ring = pool_ring  # [pool] ring: who takes a pool contact's call deal
        self.users = users  # None: ask the database on every event
        self.catalog = catalog  # None: read stages and campaign sources on every call
        self.office_numbers = office_numbers  # E.164 numbers of the offices' own PBXs

    async def apply(self, session: AsyncSession, ruleset: RuleSet, event: CallEvent) -> CrmOutcome:
        """Everything for ``event`` in one unit of work; the caller commits (or retries)."""
        call = event.call
        customer, name, ours = customer_side(call)
        phone = customer_phone(customer, self.phone_rules)
        if phone is not None and phone.normalized in self.office_numbers:
            return CrmOutcome(call.linkedid, event.kind, ())  # another office calling: a colleague
        did = customer_phone(call.did, self.phone_rules) if call.did else None
        known = (
            phone is not None
            and ruleset.asks_if_caller_known
            and await find_phone_owner(session, phone.normalized) is not None
        )
        facts = facts_of(
            event,
            caller=phone.normalized if phone else None,
            did=did.normalized if did else None,
            caller_known=known,
        )
        plan = evaluate(ruleset, facts)
        if plan.empty:
            return CrmOutcome(call.linkedid, event.kind, plan.rule_ids)
        users = await self._users(session, ruleset, plan, call)
        catalog = await self.catalog.get(session) if self.catalog is not None else None
        work = await self._work(
            session, ruleset, (plan, catalog), event, users, (customer, name, ours)
        )
        effects = await record_call(
            session, work, self.phone_rules, pool_ring=self.pool_ring, catalog=catalog
        )
        return _outcome(call.linkedid, event.kind, plan.rule_ids, effects)

    def expected_effects(
        self, ruleset: RuleSet, event: CallEvent
    ) -> tuple[tuple[str, ...], frozenset[str]] | None:
        """(rules, effect keys) the event could write, when the rules decide it without the
        database; None when they ask the database (is the caller a known contact?)."""
        if ruleset.asks_if_caller_known:
            return None
        call = event.call
        phone = customer_phone(customer_side(call)[0], self.phone_rules)
        did = customer_phone(call.did, self.phone_rules) if call.did else None
        facts = facts_of(
            event,
            caller=phone.normalized if phone else None,
            did=did.normalized if did else None,
            caller_known=False,
        )
        plan = evaluate(ruleset, facts)
        return plan.rule_ids, effect_keys(plan, call)

    async def _users(
        self, session: AsyncSession, ruleset: RuleSet, plan: Plan, call: CallSnapshot
    ) -> dict[str, int]:
        """User ids keyed by extension (``ext:101``) and by login (``login:ivan``)."""
        extensions = {e for e in (call.answered_by, call.agent, *call.agents_rung) if e}
        logins: set[str] = set()
        for action in plan.actions:
            policy = _policy_of(action)
            if isinstance(policy, FixedUser):
                logins.add(policy.login)
            elif isinstance(policy, RoundRobin):
                group = ruleset.group(policy.group)
                logins.update(group.users if group else ())
            elif isinstance(policy, QueueGroup):
                group = ruleset.group_of_queue(call.queue, call.pbx)
                logins.update(group.users if group else ())
        by_ext = await (
            self.users.lookup(session, extensions, pbx=call.pbx)
            if self.users is not None
            else users_by_telephony(session, extensions, pbx=call.pbx)
        )
        by_login = await user_ids_by_login(session, logins)
        return {
            **{f"ext:{ext}": user.user_id for ext, user in by_ext.items()},
            **{f"login:{login}": user_id for login, user_id in by_login.items()},
        }

    async def _work(
        self,
        session: AsyncSession,
        ruleset: RuleSet,
        planned: tuple[Plan, CallCatalog | None],
        event: CallEvent,
        users: dict[str, int],
        sides: tuple[str | None, str | None, str | None],
    ) -> CallWork:
        plan, catalog = planned
        call = event.call
        at = _utc(event.at) or dt.datetime.now(dt.UTC)
        holder = call.answered_by or (call.agent if call.direction == "outbound" else None)
        record = CallRecord(
            linkedid=call.linkedid,
            direction=call.direction if call.direction != "unknown" else "inbound",
            customer_number=sides[0],
            customer_name=sides[1],
            our_number=sides[2],
            queue=call.queue,
            started_at=_utc(call.started_at),
            answered_at=_utc(call.answered_at),
            ended_at=_utc(call.ended_at),
            outcome=call.outcome,
            agent_user_id=users.get(f"ext:{holder}") if holder else None,
            recording_url=self._recording(call.recording),
            progress=_progress(call),
            transfers=len(call.transfers),
            pbx=call.pbx,
        )
        contact: ContactMode = "none"
        deal: DealRequest | None = None
        owner: OwnerRequest | None = None
        tasks: list[TaskRequest] = []
        for action in plan.actions:
            if isinstance(action, EnsureContact):
                if action.create or contact == "none":
                    contact = "find-or-create" if action.create else "find"
            elif isinstance(action, PlaceDeal) and deal is None:
                pipeline_id, stage_id = (
                    catalog.stage_ids(action.deal.pipeline, action.deal.stage)
                    if catalog is not None
                    else await stage_ids(session, action.deal.pipeline, action.deal.stage)
                )
                deal = DealRequest(pipeline_id, stage_id, action.deal.reuse_open)
            elif isinstance(action, SetOwner) and owner is None:
                owner = _owner_request(action.policy, ruleset, call, users)
            elif isinstance(action, AddTask):
                assignee = _assignee(action.task.assignee, ruleset, call, users)
                due = at + dt.timedelta(minutes=action.task.due_in_minutes)
                title = action.task.title or self._task_title(call)
                tasks.append(TaskRequest(action.rule_id, title, due, assignee))
        return CallWork(
            call=record,
            at=at,
            contact=contact,
            deal=deal,
            owner=owner,
            tasks=tuple(tasks),
            log_call=any(isinstance(a, LogCall) for a in plan.actions),
            rule_id=plan.rule_ids[0] if plan.rule_ids else None,
            text=self.text,
            # Users just resolved are active (the telephony cache forgets on any user change).
            active_users=frozenset(users.values()),
        )

    def _task_title(self, call: CallSnapshot) -> str:
        """The product's task title: a missed inbound call's, else a plain call-back."""
        missed = call.direction == "inbound" and call.answered_at is None
        return self.text.missed_call_task if missed else self.text.call_back_task

    def _recording(self, recording: str | None) -> str | None:
        if not recording:
            return None
        if "://" in recording or not self.recording_base_url:
            return recording[:500]
        return (self.recording_base_url.rstrip("/") + "/" + recording.lstrip("/"))[:500]


def _progress(call: CallSnapshot) -> str:
    return "ringing" if call.state == "dialing" else call.state


def effect_keys(plan: Plan, call: CallSnapshot) -> frozenset[str]:
    """The ``call_effects`` keys applying ``plan`` at this moment of ``call`` could write."""
    keys: set[str] = set()
    for action in plan.actions:
        if isinstance(action, EnsureContact):
            keys.add("contact")
        elif isinstance(action, PlaceDeal):
            keys.add("deal")
        elif isinstance(action, SetOwner):
            key = _owner_key(action.policy, call)
            if key is not None:
                keys.add(f"owner:{key}")
        elif isinstance(action, AddTask):
            keys.add(f"task:{action.rule_id}")
        elif isinstance(action, LogCall):
            keys.update(("call_log", f"call_log@{_progress(call)}:{len(call.transfers)}"))
    return frozenset(keys)


def _owner_key(policy: OwnerPolicy, call: CallSnapshot) -> str | None:
    if isinstance(policy, AnsweringAgent):
        if call.answered_by is None:
            return None
        return f"agent:{len(call.transfers)}:{call.answered_by}"
    if isinstance(policy, ContactOwner):
        return "contact-owner"
    if isinstance(policy, FixedUser):
        return f"user:{policy.login}"
    return f"round-robin:{policy.group}"


def _policy_of(action: object) -> OwnerPolicy | TaskAssignee | None:
    if isinstance(action, SetOwner):
        return action.policy
    if isinstance(action, AddTask):
        return action.task.assignee
    return None


def _owner_request(
    policy: OwnerPolicy, ruleset: RuleSet, call: CallSnapshot, users: dict[str, int]
) -> OwnerRequest | None:
    key = _owner_key(policy, call)
    if key is None:
        return None  # nobody answered yet: the deal stays unassigned
    if isinstance(policy, AnsweringAgent):
        return OwnerRequest(key, Assignee(user_id=users.get(f"ext:{call.answered_by}")))
    if isinstance(policy, ContactOwner):
        return OwnerRequest(key, Assignee(contact_owner=True))
    return OwnerRequest(key, _assignee(policy, ruleset, call, users))


def _assignee(
    policy: TaskAssignee, ruleset: RuleSet, call: CallSnapshot, users: dict[str, int]
) -> Assignee:
    if isinstance(policy, FixedUser):
        return Assignee(user_id=users.get(f"login:{policy.login}"))
    if isinstance(policy, AnsweringAgent):
        return Assignee(user_id=users.get(f"ext:{call.answered_by}"))
    if isinstance(policy, DealOwner):
        return Assignee(deal_owner=True)
    if isinstance(policy, RoundRobin | QueueGroup):
        group = (
            ruleset.group(policy.group)
            if isinstance(policy, RoundRobin)
            else ruleset.group_of_queue(call.queue, call.pbx)
        )
        if group is not None:
            members = tuple(users[f"login:{u}"] for u in group.users if f"login:{u}" in users)
            return Assignee(group=group.name, members=members)
    # LastAgentRung, and a queue no group serves: whoever rang last.
    last = call.agents_rung[-1] if call.agents_rung else None
    return Assignee(user_id=users.get(f"ext:{last}") if last else None)


def _outcome(
    linkedid: str, kind: str, rule_ids: tuple[str, ...], effects: CallEffects
) -> CrmOutcome:
    return CrmOutcome(
        linkedid=linkedid,
        event=kind,
        rule_ids=rule_ids,
        contact_id=effects.contact_id,
        contact_created=effects.contact_created,
        deal_id=effects.deal_id,
        deal_created=effects.deal_created,
        owner_id=effects.owner_id,
        owner_changed=effects.owner_changed,
        task_ids=effects.task_ids,
        tasks_created=effects.tasks_created,
        call_activity_id=effects.call_activity_id,
        blocked=effects.blocked,
        applied=effects.applied,
        recorded=effects.recorded,
    )
