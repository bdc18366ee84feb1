"""The hand-computed report fixture of docs/REPORTS.md ("the January example"), in a database.

Every number the report tests assert is worked out by hand in docs/REPORTS.md from exactly these
rows; change one here and the docs (and the tests) must change with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Contact, Deal, DealStageChange, Pipeline, Stage, User

UTC = dt.UTC
JAN = dt.datetime(2026, 1, 1, tzinfo=UTC)
FEB = dt.datetime(2026, 2, 1, tzinfo=UTC)
NOW = dt.datetime(2026, 1, 10, tzinfo=UTC)


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    year = 2025 if month == 12 else 2026
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    pipeline_id: int
    lead: int
    demo: int
    proposal: int
    won: int
    lost: int
    head: int
    anna: int
    boris: int


# (owner, amount, currency, created, [(stage, at)], lost_reason); the first stay is the placement.
DEALS = [
    ("anna", "1000.00", "RUB", [("lead", at(1, 5, 9)), ("demo", at(1, 5, 11)),
                                ("proposal", at(1, 6, 11)), ("won", at(1, 8, 11))], None),
    ("anna", "2000.00", "RUB", [("lead", at(1, 6, 9)), ("demo", at(1, 6, 13)),
                                ("lost", at(1, 7, 13))], "price"),
    ("boris", "500.00", "USD", [("lead", at(1, 7, 9)), ("proposal", at(1, 7, 15)),
                                ("won", at(1, 12, 15))], None),
    ("boris", "3000.00", "RUB", [("lead", at(1, 8, 9)), ("demo", at(1, 8, 17))], None),
    ("anna", "4000.00", "RUB", [("lead", at(1, 9, 9))], None),
    ("boris", "1500.00", "RUB", [("lead", at(1, 10, 9)), ("lost", at(1, 10, 19))], "price"),
    ("boris", "700.00", "USD", [("lead", at(12, 20, 9)), ("demo", at(1, 2, 9)),
                                ("lost", at(1, 4, 9))], None),
]  # fmt: skip

C0, C1, C2, C3, C4, C5 = (f"+7900111000{i}" for i in range(6))
ELSEWHERE = "+79001119999"
DID = "+74950000001"

# (direction, customer number, started, answered, agent, contact of the number)
CALLS = [
    ("inbound", C0, at(12, 28, 10), at(12, 28, 10, 0, 15), "anna"),
    ("inbound", C1, at(1, 5, 10), at(1, 5, 10, 0, 20), "anna"),
    ("inbound", C2, at(1, 5, 11), None, None),
    ("outbound", C2, at(1, 5, 11, 10), at(1, 5, 11, 10, 30), "boris"),
    ("inbound", C3, at(1, 5, 12), None, None),
    ("outbound", C3, at(1, 5, 12, 30), None, "anna"),
    ("inbound", C4, at(1, 5, 13), None, None),
    ("inbound", C5, at(1, 5, 14), None, None),
    ("inbound", C5, at(1, 5, 14, 5), at(1, 5, 14, 5, 10), "boris"),
    ("inbound", C1, at(1, 6, 10), at(1, 6, 10, 0, 5), "anna"),
    ("inbound", C0, at(1, 7, 9), None, None),
    ("outbound", ELSEWHERE, at(1, 8, 10), at(1, 8, 10, 0, 3), "anna"),
]
TALK_S = 60  # every answered call lasts a minute


async def build_world(
    sessions: async_sessionmaker[AsyncSession], users: Mapping[str, int] | None = None
) -> World:
    """Insert the January example and return the ids the tests need.

    ``users`` maps "head", "anna" and "boris" to existing user ids; by default they are made.
    """
    async with sessions.begin() as session:
        users = dict(users or {})
        for login, role in (("head", "head"), ("anna", "seller"), ("boris", "seller")):
            if login in users:
                continue
            users[login] = await _insert(
                session,
                User,
                login=f"rw-{login}",
                display_name=login.title(),
                role=role,
                locale="en",
                active=True,
                created_at=at(12, 1, 0),
            )
        pipeline = await _insert(
            session, Pipeline, name="Reports example", position=9, is_default=False,
            created_at=at(12, 1, 0),
        )  # fmt: skip
        stages = {}
        for position, (name, kind, probability) in enumerate(
            (("lead", "open", 10), ("demo", "open", 40), ("proposal", "open", 70),
             ("won", "won", 100), ("lost", "lost", 0)), start=1,
        ):  # fmt: skip
            stages[name] = await _insert(
                session, Stage, pipeline_id=pipeline, name=name.title(), position=position,
                kind=kind, probability=probability, is_unsorted=False,
            )  # fmt: skip
        for owner, amount, currency, moves, reason in DEALS:
            last_stage, last_at = moves[-1]
            closed = last_at if last_stage in ("won", "lost") else None
            deal = await _insert(
                session, Deal, title=f"{owner} {amount}", amount=Decimal(amount),
                currency=currency, owner_id=users[owner], pipeline_id=pipeline,
                stage_id=stages[last_stage], source="manual", lost_reason=reason,
                created_at=moves[0][1], updated_at=last_at, stage_entered_at=last_at,
                closed_at=closed, version=1,
            )  # fmt: skip
            previous = None
            for stage, moved_at in moves:
                await session.execute(
                    insert(DealStageChange).values(
                        deal_id=deal, from_stage_id=previous, to_stage_id=stages[stage],
                        changed_at=moved_at, changed_by_id=users[owner],
                    )
                )  # fmt: skip
                previous = stages[stage]
        contact_c4 = await _insert(
            session, Contact, name="Caller four", owner_id=users["anna"],
            created_at=at(1, 5, 13), updated_at=at(1, 5, 13),
        )  # fmt: skip
        for direction, number, started, answered, agent in CALLS:
            inbound = direction == "inbound"
            await session.execute(
                insert(Activity).values(
                    kind="call", direction=direction, created_at=started, started_at=started,
                    from_number=number if inbound else "101", to_number=DID if inbound else number,
                    answered_at=answered, ended_at=started + dt.timedelta(minutes=5),
                    duration_s=TALK_S if answered else 0,
                    outcome="answered" if answered else "missed",
                    agent_id=users[agent] if agent else None,
                    contact_id=contact_c4 if number == C4 else None,
                )
            )  # fmt: skip
    return World(
        pipeline_id=pipeline,
        lead=stages["lead"],
        demo=stages["demo"],
        proposal=stages["proposal"],
        won=stages["won"],
        lost=stages["lost"],
        head=users["head"],
        anna=users["anna"],
        boris=users["boris"],
    )


async def _insert(session: AsyncSession, model: type[object], **values: object) -> int:
    result = await session.execute(insert(model).values(**values).returning(model.id))  # type: ignore[attr-defined]
    return int(result.scalar_one())
