"""A large, realistic CRM data set, seeded fast with Core executemany batches.

Importable by every bench (``from bench.dataset import seed_crm``)::

    summary = await seed_crm("sqlite+aiosqlite:///tmp/crm.db", contacts=100_000,
                             deals=100_000, stage_changes=1_000_000)

The database must be migrated (``crmlite.db.migrate.upgrade``; ``seed_crm(..., migrate=True)``
does it). It adds 20 sellers, a head and an admin, two more pipelines beside the seeded "Sales",
contacts with one unique E.164 phone each, deals spread over the pipelines (some unowned call
deals waiting in Unsorted), and each deal's full stage history ending in its current stage.
Every deal has at least its first placement, so ``stage_changes >= deals``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crmlite.db.board_totals import rebuild_board_totals
from crmlite.db.engine import create_engine
from crmlite.db.migrate import upgrade
from crmlite.db.models import (
    Contact,
    ContactPhone,
    Deal,
    DealStageChange,
    Pipeline,
    Stage,
    User,
)

BATCH = 20_000
SELLERS = 20
EXTRA_PIPELINES = {
    "Used cars": [
        ("Inspection", "open", 20),
        ("Test drive", "open", 40),
        ("Offer", "open", 60),
        ("Sold", "won", 100),
        ("Not sold", "lost", 0),
    ],
    "Service": [
        ("Booked", "open", 50),
        ("In work", "open", 80),
        ("Paid", "won", 100),
        ("Cancelled", "lost", 0),
    ],
}
LOST_REASONS = ("price", "competitor", "no answer", "timing", "financing refused")
CURRENCIES = ("RUB",) * 18 + ("USD", "EUR")


@dataclass(frozen=True)
class StageInfo:
    id: int
    kind: str
    is_unsorted: bool


@dataclass
class DatasetSummary:
    """What a bench needs to query the data it seeded."""

    contacts: int
    deals: int
    stage_changes: int
    seller_ids: list[int]
    head_id: int
    admin_id: int
    pipeline_ids: list[int]
    stages: dict[int, list[StageInfo]] = field(default_factory=dict)
    phones: list[str] = field(default_factory=list)
    """A sample of the seeded numbers (E.164), for lookups."""
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def phone_of(index: int) -> str:
    """The E.164 number of contact ``index``: unique, valid Russian mobile numbers."""
    return f"+79{index:09d}"


def typed_forms(e164: str) -> list[str]:
    """How people type the same Russian mobile number."""
    digits = e164[2:]
    return [
        e164,
        f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}",
        f"8{digits}",
        f"+7 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}",
    ]


async def seed_crm(
    target: str | AsyncEngine,
    *,
    contacts: int = 100_000,
    deals: int = 100_000,
    stage_changes: int = 1_000_000,
    seed: int = 7,
    now: dt.datetime | None = None,
    migrate: bool = False,
    batch: int = BATCH,
) -> DatasetSummary:
    """Seed the data set into ``target`` (a URL or an engine) and describe it."""
    if stage_changes < deals:
        raise ValueError("every deal has at least one stage change (its first placement)")
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        if migrate:
            await upgrade(engine)
        rng = random.Random(seed)
        moment = now or dt.datetime.now(dt.UTC)
        async with engine.begin() as conn:
            summary = await _seed_people_and_pipelines(conn, moment)
        async with engine.begin() as conn, _bulk_load(conn):
            first_contact = await _seed_contacts(conn, contacts, moment, rng, summary, batch)
            await _seed_deals(
                conn, first_contact, contacts, deals, stage_changes, rng, summary, batch
            )
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Explicit ids were inserted: move the sequences past them.
                for table in ("contacts", "deals"):
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
        summary.contacts, summary.deals, summary.stage_changes = contacts, deals, stage_changes
        return summary
    finally:
        if isinstance(target, str):
            await engine.dispose()


async def _seed_people_and_pipelines(conn: AsyncConnection, now: dt.datetime) -> DatasetSummary:
    users = [
        {"login": f"seller{i}", "display_name": f"Seller {i}", "role": "seller"}
        for i in range(1, SELLERS + 1)
    ] + [
        {"login": "head", "display_name": "Head of sales", "role": "head"},
        {"login": "admin", "display_name": "Admin", "role": "admin"},
    ]
    for user in users:
        user.update(password_hash=None, locale="en", active=True, created_at=now)
    await conn.execute(insert(User), users)
    ids = {login: ident for login, ident in await conn.execute(select(User.login, User.id))}
    position = len((await conn.execute(select(Pipeline.id))).all())
    for offset, (name, stages) in enumerate(EXTRA_PIPELINES.items(), start=1):
        pipeline_id = (
            await conn.execute(
                insert(Pipeline).returning(Pipeline.id),
                [
                    {
                        "name": name,
                        "position": position + offset,
                        "is_default": False,
                        "created_at": now,
                    }
                ],
            )
        ).scalar_one()
        rows = [("Unsorted", "open", 0, True)] + [(n, k, p, False) for n, k, p in stages]
        await conn.execute(
            insert(Stage),
            [
                {
                    "pipeline_id": pipeline_id,
                    "name": n,
                    "position": i,
                    "kind": k,
                    "probability": p,
                    "is_unsorted": u,
                }
                for i, (n, k, p, u) in enumerate(rows)
            ],
        )
    stages: dict[int, list[StageInfo]] = {}
    result = await conn.execute(
        select(Stage.pipeline_id, Stage.id, Stage.kind, Stage.is_unsorted)
        .where(Stage.archived_at.is_(None))
        .order_by(Stage.pipeline_id, Stage.position)
    )
    for pipeline_id, stage_id, kind, unsorted in result:
        stages.setdefault(pipeline_id, []).append(StageInfo(stage_id, kind, unsorted))
    return DatasetSummary(
        contacts=0,
        deals=0,
        stage_changes=0,
        seller_ids=[ids[f"seller{i}"] for i in range(1, SELLERS + 1)],
        head_id=ids["head"],
        admin_id=ids["admin"],
        pipeline_ids=sorted(stages),
        stages=stages,
        now=now,
    )


@asynccontextmanager
async def _bulk_load(conn: AsyncConnection) -> AsyncIterator[None]:
    """Load without per-row triggers and, on SQLite, with indexes built once at the end.

    What the triggers would have kept is written by the loader (stays, first visits) or rebuilt
    once at the end (board totals).
    """
    if conn.dialect.name == "sqlite":
        names = ", ".join(f"'{t}'" for t in BULK_TABLES)
        rows = (
            await conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master "  # noqa: S608 - constant names
                f"WHERE type IN ('index', 'trigger') AND tbl_name IN ({names}) AND sql IS NOT NULL"
            )
        ).all()
        for kind, name, _sql in rows:
            await conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
        yield
        for _kind, _name, sql in sorted(rows, key=lambda row: row[0] != "index"):
            await conn.exec_driver_sql(sql)
        await rebuild_board_totals(conn)
        await conn.exec_driver_sql("ANALYZE")
        return
    if conn.dialect.name == "postgresql":
        for table in ("deals", "deal_stage_changes"):
            await conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        yield
        for table in ("deals", "deal_stage_changes"):
            await conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        await rebuild_board_totals(conn)
        await conn.exec_driver_sql("ANALYZE")
        return
    yield


class _Writer:
    """Batched inserts: the driver's executemany on SQLite, Core executemany elsewhere."""

    def __init__(self, conn: AsyncConnection, batch: int) -> None:
        self.conn = conn
        self.batch = batch
        self.sqlite = conn.dialect.name == "sqlite"

    async def write(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        for start in range(0, len(rows), self.batch):
            chunk = rows[start : start + self.batch]
            if self.sqlite:
                # Skips SQLAlchemy's per-value processing: the rows already hold values as the
                # SQLite columns store them (see _Storage).
                marks = ", ".join("?" * len(columns))
                await self.conn.exec_driver_sql(
                    f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    chunk,
                )
            else:
                await self.conn.execute(
                    insert(table), [dict(zip(columns, row, strict=True)) for row in chunk]
                )


class _Storage:
    """Values in the form each backend stores them (naive UTC times in, no per-value checks)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def time(self, naive_utc: dt.datetime) -> Any:
        if self.sqlite:
            return naive_utc.isoformat(" ", "microseconds")
        return naive_utc.replace(tzinfo=dt.UTC)

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    def money(self, cents: int) -> Any:
        amount = Decimal(cents) / 100
        return str(amount) if self.sqlite else amount


async def _seed_contacts(
    conn: AsyncConnection,
    count: int,
    now: dt.datetime,
    rng: random.Random,
    summary: DatasetSummary,
    batch: int,
) -> int:
    """Insert ``count`` contacts with one phone each; return the first contact id."""
    first_id = await _next_id(conn, Contact.__table__)  # type: ignore[arg-type]
    sellers = summary.seller_ids
    year = 365 * 24 * 3600
    store = _Storage(conn.dialect.name)
    naive_now = now.astimezone(dt.UTC).replace(tzinfo=None)
    contacts: list[tuple[Any, ...]] = []
    phones: list[tuple[Any, ...]] = []
    for i in range(count):
        created = store.time(naive_now - dt.timedelta(seconds=rng.randrange(year)))
        contacts.append(
            (
                first_id + i,
                f"Contact {i}",
                f"Company {i % 5000}" if i % 3 else None,
                f"contact{i}@example.com" if i % 2 else None,
                sellers[i % len(sellers)],
                created,
                created,
            )
        )
        e164 = phone_of(i)
        phones.append((first_id + i, typed_forms(e164)[i % 4], e164, "e164", None))
    writer = _Writer(conn, batch)
    await writer.write(
        Contact.__table__,  # type: ignore[arg-type]
        ("id", "name", "company", "email", "owner_id", "created_at", "updated_at"),
        contacts,
    )
    await writer.write(
        ContactPhone.__table__,  # type: ignore[arg-type]
        ("contact_id", "raw", "normalized", "kind", "label"),
        phones,
    )
    step = max(1, count // 5000)
    summary.phones = [phone_of(i) for i in range(0, count, step)]
    return first_id


def _walk(rng: random.Random, kinds: Sequence[str], steps: int) -> list[int]:
    """A plausible path of ``steps`` stage indexes from Unsorted (0), mostly forward."""
    opens = [i for i, kind in enumerate(kinds) if kind == "open"]
    closed = [i for i, kind in enumerate(kinds) if kind != "open"]
    path = [0]
    position = 0  # index into opens
    for step in range(1, steps):
        current = path[-1]
        if step == steps - 1 and rng.random() < 0.65:
            path.append(rng.choice([c for c in closed if c != current] or closed))
            continue
        forward = rng.random() < 0.7
        position = min(len(opens) - 1, position + 1) if forward else max(0, position - 1)
        choice = opens[position]
        if choice == current:
            choice = opens[position - 1] if position else opens[min(1, len(opens) - 1)]
            if choice == current:
                choice = closed[0]
        path.append(choice)
    return path


def _steps(rng: random.Random, count: int, changes: int) -> list[int]:
    """Placements per deal: at least one each, spread out, summing to ``changes`` exactly."""
    mean = (changes - count) / count
    steps = [1 + (min(int(rng.expovariate(1 / mean)), 40) if mean else 0) for _ in range(count)]
    surplus = sum(steps) - changes
    index = 0
    while surplus != 0:
        if surplus > 0 and steps[index] > 1:
            steps[index] -= 1
            surplus -= 1
        elif surplus < 0:
            steps[index] += 1
            surplus += 1
        index = (index + 1) % count
    return steps


DEAL_COLUMNS = (
    "id",
    "title",
    "amount",
    "currency",
    "contact_id",
    "owner_id",
    "pipeline_id",
    "stage_id",
    "source",
    "lost_reason",
    "expected_close_date",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "closed_at",
    "version",
)
CHANGE_COLUMNS = (
    "deal_id",
    "from_stage_id",
    "to_stage_id",
    "changed_at",
    "changed_by_id",
    "left_at",
    "stay_s",
    "first_visit",
)
BULK_TABLES = ("contacts", "contact_phones", "deals", "deal_stage_changes")


async def _seed_deals(
    conn: AsyncConnection,
    first_contact: int,
    contacts: int,
    count: int,
    changes: int,
    rng: random.Random,
    summary: DatasetSummary,
    batch: int,
) -> None:
    first_id = await _next_id(conn, Deal.__table__)  # type: ignore[arg-type]
    pipelines = summary.pipeline_ids
    weights = [6, 2, 2][: len(pipelines)] + [1] * max(0, len(pipelines) - 3)
    kinds = {p: [s.kind for s in summary.stages[p]] for p in pipelines}
    ids = {p: [s.id for s in summary.stages[p]] for p in pipelines}
    steps = _steps(rng, count, changes)
    sellers = summary.seller_ids
    now = summary.now.astimezone(dt.UTC).replace(tzinfo=None)
    store = _Storage(conn.dialect.name)
    writer = _Writer(conn, batch)
    deal_rows: list[tuple[Any, ...]] = []
    change_rows: list[tuple[Any, ...]] = []
    for i in range(count):
        pipeline_id = rng.choices(pipelines, weights)[0]
        path = _walk(rng, kinds[pipeline_id], steps[i])
        span = dt.timedelta(days=rng.uniform(0.5, 300))
        created = now - span
        gaps = sorted(rng.random() for _ in range(len(path) - 1))
        times = [created] + [created + span * g * 0.98 for g in gaps]
        stamps = [store.time(t) for t in times]
        final_kind = kinds[pipeline_id][path[-1]]
        unowned = len(path) == 1 and i % 10 == 0
        owner = None if unowned else sellers[i % len(sellers)]
        deal_id = first_id + i
        deal_rows.append(
            (
                deal_id,
                f"Deal {i}",
                store.money(rng.randrange(1_000, 5_000_000)),
                rng.choice(CURRENCIES),
                first_contact + rng.randrange(contacts) if contacts else None,
                owner,
                pipeline_id,
                ids[pipeline_id][path[-1]],
                "call" if unowned or i % 3 == 0 else "manual",
                rng.choice(LOST_REASONS) if final_kind == "lost" else None,
                None,
                stamps[0],
                stamps[-1],
                stamps[-1],
                stamps[-1] if final_kind != "open" else None,
                len(path),
            )
        )
        previous: int | None = None
        visited: set[int] = set()
        for k, (index, when) in enumerate(zip(path, times, strict=True)):
            stage_id = ids[pipeline_id][index]
            # What the reports' trigger writes (it is off during the bulk load, see _bulk_load):
            # the stay this change began ends at the next change; first entries are flagged.
            if k + 1 < len(times):
                left, stay = stamps[k + 1], round((times[k + 1] - when).total_seconds())
            else:
                left, stay = None, None
            first = store.flag(stage_id not in visited)
            visited.add(stage_id)
            change_rows.append((deal_id, previous, stage_id, stamps[k], owner, left, stay, first))
            previous = stage_id
        if len(change_rows) >= batch * 2:
            await writer.write(Deal.__table__, DEAL_COLUMNS, deal_rows)  # type: ignore[arg-type]
            await writer.write(DealStageChange.__table__, CHANGE_COLUMNS, change_rows)  # type: ignore[arg-type]
            deal_rows, change_rows = [], []
    await writer.write(Deal.__table__, DEAL_COLUMNS, deal_rows)  # type: ignore[arg-type]
    await writer.write(DealStageChange.__table__, CHANGE_COLUMNS, change_rows)  # type: ignore[arg-type]


async def _next_id(conn: AsyncConnection, table: Table) -> int:
    current = (await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one()
    return int(current) + 1
