"""Build call events like the call model emits them, and seed users with extensions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import TelephonyIdentity
from crmlite.domain.principal import Principal
from cti.calls.events import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallSnapshot,
    CallStarted,
    CallTransferred,
    TransferRecord,
)
from tests.integration.crm_support import add_user

T0 = 1_772_442_000.0  # 2026-03-02 09:00 UTC, a Monday
CRM_TABLES = (
    "contacts",
    "contact_phones",
    "deals",
    "deal_stage_changes",
    "activities",
    "call_effects",
    "round_robin_cursors",
)


async def add_agents(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Principal]:
    """Users ivan, olga, petr at extensions 101, 102, 103."""
    agents: dict[str, Principal] = {}
    async with sessions.begin() as session:
        for login, ext in (("ivan", "101"), ("olga", "102"), ("petr", "103")):
            user = await add_user(session, login)
            session.add(TelephonyIdentity(user_id=user.user_id, kind="extension", value=ext))
            agents[ext] = user
    return agents


def inbound_call(linkedid: str = "1772442000.1", caller: str = "+79161234567") -> CallSnapshot:
    return CallSnapshot(
        pbx="pbx",
        linkedid=linkedid,
        direction="inbound",
        state="dialing",
        caller=caller,
        caller_name="Vera",
        called="+74951234567",
        queue="sales",
        started_at=T0,
    )


def ring_all_answered(call: CallSnapshot, answered_by: str = "102") -> list[CallEvent]:
    """Queue rings 101..103, ``answered_by`` picks up, the caller hangs up later."""
    events: list[CallEvent] = [CallStarted("pbx", T0, call)]
    ringing = replace(call, state="ringing", ringing_at=T0 + 1)
    rung: tuple[str, ...] = ()
    for offset, ext in enumerate(("101", "102", "103")):
        rung = (*rung, ext)
        ringing = replace(ringing, agents_rung=rung, ringing=rung)
        events.append(AgentRinging("pbx", T0 + 1 + offset / 10, ringing, ext, f"PJSIP/{ext}"))
    answered = replace(
        ringing,
        state="answered",
        ringing=(),
        answered_by=answered_by,
        answered_agents=(answered_by,),
        agent=answered_by,
        answered_at=T0 + 3,
    )
    for ext in ("101", "102", "103"):
        if ext != answered_by:
            events.append(
                AgentStoppedRinging(
                    "pbx", T0 + 3, answered, ext, f"PJSIP/{ext}", "answered-elsewhere"
                )
            )
    events.append(CallAnswered("pbx", T0 + 3, answered, answered_by, f"PJSIP/{answered_by}"))
    ended = replace(answered, state="ended", ended_at=T0 + 10, outcome="answered")
    events.append(CallEnded("pbx", T0 + 10, ended, "answered"))
    return events


def ring_all_missed(call: CallSnapshot) -> list[CallEvent]:
    """Queue rings 101..103, nobody answers, the caller gives up."""
    ringing = replace(
        call, state="ringing", agents_rung=("101", "102", "103"), ringing=("101", "102", "103")
    )
    ended = replace(ringing, state="ended", ringing=(), ended_at=T0 + 9, outcome="abandoned")
    return [
        CallStarted("pbx", T0, call),
        AgentRinging("pbx", T0 + 1, ringing, "101", "PJSIP/101"),
        CallEnded("pbx", T0 + 9, ended, "abandoned"),
    ]


def transferred(events: list[CallEvent], to: str = "103") -> list[CallEvent]:
    """The answered call of ``events`` is blind-transferred to ``to`` before it ends."""
    answered = next(e for e in events if isinstance(e, CallAnswered))
    source = answered.call.answered_by
    record = TransferRecord("blind", source, to, T0 + 5)
    moved = replace(
        answered.call,
        answered_by=to,
        agent=to,
        answered_agents=(*answered.call.answered_agents, to),
        transfers=(record,),
    )
    ended = replace(moved, state="ended", ended_at=T0 + 10, outcome="answered")
    head = [e for e in events if not isinstance(e, CallEnded)]
    return [
        *head,
        CallTransferred("pbx", T0 + 5, moved, source, to, "blind"),
        CallEnded("pbx", T0 + 10, ended, "answered"),
    ]


async def snapshot_tables(
    sessions: async_sessionmaker[AsyncSession], tables: tuple[str, ...] = CRM_TABLES
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the CRM tables, ordered, for comparing a database before and after."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with sessions() as session:
        for table in tables:
            rows = await session.execute(text(f"SELECT * FROM {table} ORDER BY 1"))  # noqa: S608
            result[table] = [tuple(row) for row in rows]
    return result


async def identity_count(session: AsyncSession) -> int:
    return len((await session.scalars(select(TelephonyIdentity.id))).all())
