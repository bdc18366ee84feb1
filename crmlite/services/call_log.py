"""What a call leaves in the CRM, applied exactly once per (call, effect).

The telephony side describes the call and what its rules ask for (a ``CallWork``); this module
finds or creates the contact, places the call on a deal, sets owners, adds tasks and keeps one
call activity up to date. Every effect is recorded in ``call_effects`` under a unique
(linkedid, effect) key in the same transaction as the change itself, so a replay, a reconnect or
a second instance that processes the same call finds the key and changes nothing. A writer that
loses a race hits the unique constraint; its transaction rolls back and a retry finds the key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, BlockedNumber, CallEffect, Contact, Deal, Stage, User
from crmlite.domain.phones import (
    NormalizedPhone,
    PhoneRules,
    display_phone,
)
from crmlite.domain.pool import RingPolicy
from crmlite.domain.principal import SYSTEM
from crmlite.domain.product_text import fill_caller
from crmlite.domain.stages import DealSource
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.call_catalog import CallCatalog
from crmlite.services.call_effects import CallEffectLedger, CallerLabel, customer_phone
from crmlite.services.call_work import (
    Assignee,
    CallEffects,
    CallRecord,
    CallWork,
    OwnerRequest,
)
from crmlite.services.caller_label import person_name
from crmlite.services.campaigns import attribute_call, record_touch
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.ownership import handover_values
from crmlite.services.phones import PhoneInput, find_phone_owner
from crmlite.services.pool_routing import pool_call
from crmlite.services.round_robin import next_in_turn
from crmlite.services.tasks import TaskService


async def is_blocked(session: AsyncSession, normalized: str) -> bool:
    """True when ``normalized`` was marked to never create a deal again."""
    found = await session.scalar(
        select(BlockedNumber.id).where(BlockedNumber.normalized == normalized)
    )
    return found is not None


async def record_call(
    session: AsyncSession,
    work: CallWork,
    rules: PhoneRules,
    *,
    pool_ring: RingPolicy = RingPolicy.PREVIOUS_OWNER,
    catalog: CallCatalog | None = None,
) -> CallEffects:
    """Apply ``work`` inside the caller's transaction; effects already recorded are skipped.

    A caller in the public pool keeps the contact in the pool; its call's deal goes to whom
    ``pool_ring`` names (the previous owner, a head), or as the rules say for ``queue``.
    ``catalog`` (stages, campaign sources held in memory) spares their reads on every call.
    """
    effects = CallEffectLedger(session, work.call.linkedid, work.at)
    await effects.load()
    phone = customer_phone(work.call.customer_number, rules)
    contact_id, contact_created = await _contact(session, effects, work, phone, rules)
    caller = CallerLabel(session, work, contact_id, phone, rules, effects.contact_name)
    deal_id, deal_created, blocked = await _deal(
        session, effects, work, (contact_id, phone, caller), catalog
    )
    owner_id, owner_changed = await _owner(session, effects, work, (contact_id, deal_id), pool_ring)
    task_ids, new_tasks = await _tasks(session, effects, work, (contact_id, deal_id), caller)
    activity_id = await _call_log(session, effects, work, (contact_id, deal_id), rules, catalog)
    await effects.write()
    return CallEffects(
        contact_id=contact_id,
        contact_created=contact_created,
        deal_id=deal_id,
        deal_created=deal_created,
        owner_id=owner_id,
        owner_changed=owner_changed,
        task_ids=task_ids,
        tasks_created=new_tasks,
        call_activity_id=activity_id,
        blocked=blocked,
        applied=tuple(effects.applied),
        recorded=frozenset(effects.rows),
    )


async def _contact(
    session: AsyncSession,
    effects: CallEffectLedger,
    work: CallWork,
    phone: NormalizedPhone | None,
    rules: PhoneRules,
) -> tuple[int | None, bool]:
    row = effects.get("contact")
    if row is not None:
        return row.contact_id, row.created and work.contact != "none"
    if work.contact == "none" or phone is None:
        return None, False
    match = await find_phone_owner(session, phone.normalized)
    if match is not None:
        effects.contact_name = match.contact_name
        effects.add("contact", work.rule_id, contact_id=match.contact_id)
        return match.contact_id, False
    if work.contact != "find-or-create":
        return None, False
    contacts = ContactService(session, SYSTEM, rules, clock=lambda: work.at)
    # No caller-id name: the contact is called by its number as people read it (the phone row
    # keeps E.164).
    name = person_name(work.call.customer_name) or display_phone(
        phone.normalized, rules.default_region
    )
    # The phone was looked up just above: its unique index still catches a racing writer.
    contact = await contacts.insert(
        name[:200], phones=[PhoneInput(phone.raw, label="call")], phones_checked=True
    )
    effects.fresh[("contacts", contact.id)] = {"owner_id": contact.owner_id, "pooled_at": None}
    effects.contact_name = contact.name
    effects.add("contact", work.rule_id, contact_id=contact.id, created=True)
    return contact.id, True


async def _deal(
    session: AsyncSession,
    effects: CallEffectLedger,
    work: CallWork,
    caller_side: tuple[int | None, NormalizedPhone | None, CallerLabel],
    catalog: CallCatalog | None,
) -> tuple[int | None, bool, bool]:
    """(deal id, created by this call, the number is blocked from creating deals)."""
    contact_id, phone, caller = caller_side
    row = effects.get("deal")
    if row is not None:
        return row.deal_id, row.created, False
    if work.deal is None or contact_id is None:
        return None, False, False
    deals = DealService(session, SYSTEM, clock=lambda: work.at)
    contact_row = effects.get("contact")
    new_contact = contact_row is not None and contact_row.created  # made just now: no deals yet
    if work.deal.reuse_open and not new_contact:
        default = catalog.first_unsorted_pipeline if catalog is not None else None
        reused = await _open_deal_to_reuse(session, contact_id, work.deal.pipeline_id, default)
        if reused is not None:
            effects.add("deal", work.rule_id, deal_id=reused, contact_id=contact_id)
            return reused, False, False
    if phone is not None and (
        phone.normalized in catalog.blocked
        if catalog is not None
        else await is_blocked(session, phone.normalized)
    ):
        return None, False, True
    placed_in = (
        catalog.placement(work.deal.pipeline_id, work.deal.stage_id)
        if catalog is not None
        else None
    )
    deal = await deals.insert(
        fill_caller(work.text.call_deal_title, await caller.label())[:200],
        pipeline_id=work.deal.pipeline_id,
        stage_id=work.deal.stage_id,
        contact_id=contact_id,
        source=DealSource.CALL,
        placed_in=placed_in,
        contact_checked="contact" in effects.applied,  # found or made in this transaction
    )
    effects.fresh[("deals", deal.id)] = {"owner_id": deal.owner_id, "version": deal.version}
    effects.add("deal", work.rule_id, deal_id=deal.id, contact_id=contact_id, created=True)
    return deal.id, True, False


async def _open_deal_to_reuse(
    session: AsyncSession, contact_id: int, pipeline_id: int | None, default: int | None = None
) -> int | None:
    """The contact's only open deal; else their newest open deal in the pipeline; else None."""
    rows = (
        await session.execute(
            select(Deal.id, Deal.pipeline_id, Deal.updated_at)
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Deal.contact_id == contact_id, Stage.kind == "open")
            .order_by(Deal.updated_at.desc(), Deal.id.desc())
        )
    ).all()
    if len(rows) == 1:
        return int(rows[0].id)
    if pipeline_id is None:
        pipeline_id = default if default is not None else await _default_pipeline(session)
    return next((int(r.id) for r in rows if r.pipeline_id == pipeline_id), None)


async def _default_pipeline(session: AsyncSession) -> int | None:
    stage = await session.scalar(
        select(Stage.pipeline_id).where(Stage.is_unsorted.is_(True)).order_by(Stage.id).limit(1)
    )
    return int(stage) if stage is not None else None


async def _resolve(
    session: AsyncSession,
    assignee: Assignee,
    at: dt.datetime,
    contact_id: int | None,
    deal_id: int | None,
) -> int | None:
    if assignee.user_id is not None:
        return assignee.user_id
    if assignee.contact_owner and contact_id is not None:
        return await session.scalar(select(Contact.owner_id).where(Contact.id == contact_id))
    if assignee.deal_owner and deal_id is not None:
        return await session.scalar(select(Deal.owner_id).where(Deal.id == deal_id))
    if assignee.group is not None:
        return await next_in_turn(session, assignee.group, assignee.members, at)
    return None


@dataclass(frozen=True, slots=True)
class _Holders:
    """Who holds the call's deal and contact as this event finds them (one read)."""

    deal_found: bool = False
    deal_owner: int | None = None
    deal_version: int = 1
    contact_found: bool = False
    contact_owner: int | None = None
    contact_pooled: bool = False


async def _holders(
    session: AsyncSession,
    effects: CallEffectLedger,
    contact_id: int | None,
    deal_id: int | None,
) -> _Holders:
    """The deal's owner and version and the contact's owner and pool state: as this event
    inserted them (the call's first event), else read in one statement."""
    deal = effects.fresh.get(("deals", deal_id)) if deal_id is not None else None
    contact = effects.fresh.get(("contacts", contact_id)) if contact_id is not None else None
    if deal is not None and (contact is not None or contact_id is None):
        return _Holders(
            True,
            deal["owner_id"],
            deal["version"],
            contact is not None,
            contact["owner_id"] if contact is not None else None,
            contact is not None and contact["pooled_at"] is not None,
        )
    if deal_id is not None:
        params = {"deal_id": deal_id, "contact_id": contact_id if contact_id is not None else -1}
        row = (await session.execute(_DEAL_HOLDERS, params)).one_or_none()
        if row is None:
            return _Holders()
        return _Holders(True, row[0], row[1], row[2] is not None, row[3], row[4] is not None)
    if contact_id is None:
        return _Holders()
    found = (await session.execute(_CONTACT_HOLDER, {"contact_id": contact_id})).one_or_none()
    if found is None:
        return _Holders()
    return _Holders(contact_found=True, contact_owner=found[0], contact_pooled=found[1] is not None)


# Built once: building a statement costs more than running it on SQLite.
_DEAL_HOLDERS = (
    select(Deal.owner_id, Deal.version, Contact.id, Contact.owner_id, Contact.pooled_at)
    .select_from(Deal)
    .outerjoin(Contact, Contact.id == bindparam("contact_id"))
    .where(Deal.id == bindparam("deal_id"))
)
_CONTACT_HOLDER = select(Contact.owner_id, Contact.pooled_at).where(
    Contact.id == bindparam("contact_id")
)
# UPDATE ... WHERE id = :row_id, its SET clause the other keys of the parameters it runs with.
_BY_ID: dict[type[Any], Any] = {
    model: update(model).where(model.id == bindparam("row_id"))
    for model in (Activity, Contact, Deal)
}


async def _owner(
    session: AsyncSession,
    effects: CallEffectLedger,
    work: CallWork,
    parents: tuple[int | None, int | None],
    pool_ring: RingPolicy,
) -> tuple[int | None, bool]:
    contact_id, deal_id = parents
    holders = await _holders(session, effects, contact_id, deal_id)
    current = holders.deal_owner
    request = work.owner
    pooled = (
        await pool_call(session, contact_id, pool_ring)
        if contact_id is not None and deal_id is not None and holders.contact_pooled
        else None
    )
    if pooled is not None and pooled.target.user_id is not None:
        # [pool] ring names who takes a pool contact's deal, whatever the rule asked.
        request = OwnerRequest("pool", Assignee(user_id=pooled.target.user_id))
    if request is None or effects.get(f"owner:{request.key}") is not None:
        return current, False
    user_id = await _resolve(session, request.assignee, work.at, contact_id, deal_id)
    if user_id is None or not await _active(session, work, user_id):
        return current, False
    changed = False
    deal_row = effects.get("deal")
    retake = current is None or (deal_row is not None and deal_row.created)
    if holders.deal_found and retake and current != user_id:
        values = {"owner_id": user_id, "updated_at": work.at, "version": holders.deal_version + 1}
        await _change(session, effects, Deal, deal_id, values)
        changed = True
        current = user_id
    if holders.contact_found:
        contact_row = effects.get("contact")
        created_here = contact_row is not None and contact_row.created
        # A contact in the public pool stays there: a call does not take it from the team (the
        # seller who answered may claim it from the card).
        owner = holders.contact_owner
        claimable = (owner is None and not holders.contact_pooled) or created_here
        if claimable and owner != user_id:
            await _change(session, effects, Contact, contact_id, handover_values(user_id, work.at))
    effects.add(f"owner:{request.key}", work.rule_id, user_id=user_id, deal_id=deal_id)
    return current, changed


async def _change(
    session: AsyncSession,
    effects: CallEffectLedger,
    model: type[Any],
    ident: int | None,
    values: dict[str, Any],
) -> None:
    """Set ``values`` on a row by one UPDATE (no read of the whole row first); a row this event
    inserted keeps what later steps will read in step."""
    fresh = effects.fresh.get((model.__tablename__, ident)) if ident is not None else None
    if fresh is not None:
        fresh.update((column, value) for column, value in values.items() if column in fresh)
    # A Core UPDATE on the transaction's connection: the SET clause is the keys of ``values``.
    connection = await session.connection()
    await connection.execute(_BY_ID[model], {"row_id": ident, **values})


async def _active(session: AsyncSession, work: CallWork, user_id: int) -> bool:
    if user_id in work.active_users:
        return True
    return bool(await session.scalar(select(User.active).where(User.id == user_id)))


async def _tasks(
    session: AsyncSession,
    effects: CallEffectLedger,
    work: CallWork,
    parents: tuple[int | None, int | None],
    caller: CallerLabel,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    contact_id, deal_id = parents
    existing = [
        row.activity_id
        for key, row in effects.rows.items()
        if key.startswith("task:") and row.activity_id is not None
    ]
    created: list[int] = []
    for request in work.tasks:
        key = f"task:{request.key}"
        if effects.get(key) is not None:
            continue
        assignee = await _resolve(session, request.assignee, work.at, contact_id, deal_id)
        if assignee is not None and not await _active(session, work, assignee):
            assignee = None
        parent = Parent(contact_id, deal_id) if contact_id or deal_id else None
        tasks = TaskService(session, SYSTEM, clock=lambda: work.at)
        title = fill_caller(request.title, await caller.label())[:200]
        task = await tasks.create(title, parent=parent, due_at=request.due_at)
        # The system principal cannot "assign to itself": set the chosen user directly.
        task.assignee_id = assignee
        task.linkedid = work.call.linkedid
        effects.add(key, work.rule_id, activity_id=task.id, user_id=assignee)
        created.append(task.id)
    return tuple(existing + created), tuple(created)


async def _call_log(
    session: AsyncSession,
    effects: CallEffectLedger,
    work: CallWork,
    parents: tuple[int | None, int | None],
    rules: PhoneRules,
    catalog: CallCatalog | None,
) -> int | None:
    contact_id, deal_id = parents
    row = effects.get("call_log")
    call = work.call
    if row is None:
        if not work.log_call or (contact_id is None and deal_id is None):
            return None
        activities = ActivityService(session, SYSTEM, clock=lambda: work.at)
        # Reports match calls by number: the customer's (and the DID) are stored in E.164.
        customer, ours = _e164(call.customer_number, rules), _e164(call.our_number, rules)
        inbound = call.direction == "inbound"
        activity_id, written = await activities.insert_call(
            Parent(contact_id, deal_id),
            CallLog(
                direction=_direction(call.direction),
                from_number=customer if inbound else ours,
                to_number=ours if inbound else customer,
                started_at=call.started_at,
                linkedid=call.linkedid,
                pbx=call.pbx,
            ),
            # Both parents were found or made in this transaction, the deal on the contact.
            parents_checked=contact_id is not None
            and "contact" in effects.applied
            and (deal_id is None or "deal" in effects.applied),
        )
        effects.fresh[("activities", activity_id)] = {
            column.key: written[column.key] for column in _PROGRESS
        }
        row = effects.add("call_log", work.rule_id, activity_id=activity_id)
        if inbound:
            await _attribute_campaign(session, work, parents, activity_id, (rules, catalog))
    if row.activity_id is None:
        return None
    progress = f"call_log@{call.progress}:{call.transfers}"
    if effects.get(progress) is None:
        logged = effects.fresh.get(("activities", row.activity_id))
        if logged is None:
            found = (await session.execute(_LOGGED, {"activity_id": row.activity_id})).one_or_none()
            if found is None:
                return None
            logged = found._asdict()
        changes = _call_progress(logged, call, contact_id, deal_id)
        if changes:
            await _change(session, effects, Activity, row.activity_id, changes)
        effects.add(progress, work.rule_id, activity_id=row.activity_id)
    return row.activity_id


async def _attribute_campaign(
    session: AsyncSession,
    work: CallWork,
    parents: tuple[int | None, int | None],
    activity_id: int,
    lookups: tuple[PhoneRules, CallCatalog | None],
) -> None:
    """Credit the campaign whose DID or caller prefix brought this call (once, with the log)."""
    rules, catalog = lookups
    contact_id, deal_id = parents
    did = customer_phone(work.call.our_number, rules)
    caller = customer_phone(work.call.customer_number, rules)
    numbers = (did.normalized if did else None, caller.normalized if caller else None)
    campaign_id = (
        catalog.campaign_of_call(*numbers, work.at)
        if catalog is not None
        else await attribute_call(session, *numbers, work.at)
    )
    await record_touch(
        session, campaign_id, contact_id=contact_id, deal_id=deal_id, call_id=activity_id
    )


# The call log's columns a call's progress may change.
_PROGRESS = (
    Activity.contact_id,
    Activity.deal_id,
    Activity.answered_at,
    Activity.ended_at,
    Activity.pbx,
    Activity.agent_id,
    Activity.outcome,
    Activity.recording_url,
    Activity.duration_s,
)
_LOGGED = select(*_PROGRESS).where(Activity.id == bindparam("activity_id"))


def _call_progress(
    logged: dict[str, Any], call: CallRecord, contact_id: int | None, deal_id: int | None
) -> dict[str, Any]:
    """The call log's columns that ``call`` changes: what is set stays, what is new is added."""
    values: dict[str, Any] = {
        "contact_id": logged["contact_id"] or contact_id,
        "deal_id": logged["deal_id"] or deal_id,
        "answered_at": logged["answered_at"] or call.answered_at,
        "ended_at": logged["ended_at"] or call.ended_at,
        "pbx": logged["pbx"] or call.pbx,
    }
    if call.agent_user_id is not None:
        values["agent_id"] = call.agent_user_id
    if call.outcome is not None:
        values["outcome"] = call.outcome
    if call.recording_url:
        values["recording_url"] = call.recording_url
    answered, ended = values["answered_at"], values["ended_at"]
    if answered and ended:
        values["duration_s"] = max(0, int((ended - answered).total_seconds()))
    return {column: value for column, value in values.items() if logged[column] != value}


def _e164(raw: str | None, rules: PhoneRules) -> str | None:
    phone = customer_phone(raw, rules)
    return phone.normalized if phone is not None else raw


def _direction(value: str) -> CallDirection:
    try:
        return CallDirection(value)
    except ValueError:
        return CallDirection.INBOUND


async def call_effect_count(session: AsyncSession, linkedid: str) -> int:
    """How many effects ``linkedid`` has recorded (for diagnostics and tests)."""
    count = await session.scalar(
        select(func.count(CallEffect.id)).where(CallEffect.linkedid == linkedid)
    )
    return int(count or 0)
