"""seed the standard pipeline (CRM core)

The "Sales" pipeline exists from the first start, default, with "Unsorted" first (where deals
made from calls land), then the usual open stages, and one won and one lost stage.
Also adds ``stages.archived_at`` (a removed stage with history is archived, not deleted),
``ix_deals_board_totals`` (filtered board totals read from an index alone),
``ix_deals_owner_stage_created`` (a seller's board column in order) and ``board_totals``,
the per stage, owner and currency running count and sum of deals that triggers on ``deals`` keep,
so an unfiltered board reads a few hundred rows instead of every deal of the pipeline.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from crmlite.db.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PIPELINE = "Sales"
# (name, kind, probability, is_unsorted), in board order.
STAGES = (
    ("Unsorted", "open", 0, True),
    ("Qualification", "open", 10, False),
    ("Needs analysis", "open", 30, False),
    ("Proposal", "open", 50, False),
    ("Negotiation", "open", 75, False),
    ("Won", "won", 100, False),
    ("Lost", "lost", 0, False),
)

pipelines = sa.table(
    "pipelines",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("position", sa.Integer),
    sa.column("is_default", sa.Boolean),
    sa.column("created_at", UtcDateTime),
)
stages = sa.table(
    "stages",
    sa.column("pipeline_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("position", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("probability", sa.Integer),
    sa.column("is_unsorted", sa.Boolean),
)


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TRACKED = "stage_id, pipeline_id, owner_id, currency, amount"
SQLITE_CENTS = "CAST(ROUND({row}.amount * 100) AS INTEGER)"
PG_CENTS = "ROUND({row}.amount * 100)::bigint"


def _add(row: str, cents: str, prefix: str) -> str:
    return (
        "INSERT INTO board_totals (stage_id, owner_key, currency, pipeline_id, deals, cents) "  # noqa: S608
        f"VALUES ({row}.stage_id, COALESCE({row}.owner_id, 0), {row}.currency, {row}.pipeline_id,"
        f" 1, {cents.format(row=row)}) ON CONFLICT (stage_id, owner_key, currency) DO UPDATE"
        f" SET deals = {prefix}deals + 1, cents = {prefix}cents + excluded.cents"
    )


def _remove(row: str, cents: str) -> str:
    return (
        f"UPDATE board_totals SET deals = deals - 1, cents = cents - {cents.format(row=row)} "  # noqa: S608
        f"WHERE stage_id = {row}.stage_id AND owner_key = COALESCE({row}.owner_id, 0) "
        f"AND currency = {row}.currency"
    )


SQLITE_TRIGGERS = (
    "CREATE TRIGGER trg_board_totals_insert AFTER INSERT ON deals BEGIN "
    f"{_add('NEW', SQLITE_CENTS, '')}; END",
    "CREATE TRIGGER trg_board_totals_delete AFTER DELETE ON deals BEGIN "
    f"{_remove('OLD', SQLITE_CENTS)}; END",
    f"CREATE TRIGGER trg_board_totals_update AFTER UPDATE OF {TRACKED} ON deals BEGIN "
    f"{_remove('OLD', SQLITE_CENTS)}; {_add('NEW', SQLITE_CENTS, '')}; END",
)
PG_FUNCTION = f"""
CREATE FUNCTION board_totals_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {_remove("OLD", PG_CENTS)};
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        {_add("NEW", PG_CENTS, "board_totals.")};
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGER = (
    f"CREATE TRIGGER trg_board_totals AFTER INSERT OR DELETE OR UPDATE OF {TRACKED} ON deals "
    "FOR EACH ROW EXECUTE FUNCTION board_totals_track()"
)
BACKFILL = (
    "INSERT INTO board_totals (stage_id, owner_key, currency, pipeline_id, deals, cents) "
    "SELECT stage_id, COALESCE(owner_id, 0), currency, MIN(pipeline_id), COUNT(*), SUM({cents}) "
    "FROM deals GROUP BY stage_id, COALESCE(owner_id, 0), currency"
)


def _create_board_totals() -> None:
    op.create_table(
        "board_totals",
        sa.Column("stage_id", ID, nullable=False),
        sa.Column("owner_key", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pipeline_id", ID, nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_board_totals_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_board_totals_stage_id_stages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stage_id", "owner_key", "currency", name=op.f("pk_board_totals")),
    )
    op.create_index("ix_board_totals_pipeline", "board_totals", ["pipeline_id", "stage_id"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    cents = SQLITE_CENTS if sqlite else PG_CENTS
    op.execute(BACKFILL.format(cents=cents.format(row="deals")))
    if sqlite:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)


def _drop_board_totals() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_board_totals_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_board_totals ON deals")
        op.execute("DROP FUNCTION IF EXISTS board_totals_track()")
    op.drop_index("ix_board_totals_pipeline", table_name="board_totals")
    op.drop_table("board_totals")


def upgrade() -> None:
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", UtcDateTime(timezone=True), nullable=True))
    _create_board_totals()
    op.create_index("ix_deals_owner_stage_created", "deals", ["owner_id", "stage_id", "created_at"])
    op.create_index(
        "ix_deals_board_totals",
        "deals",
        ["pipeline_id", "stage_id", "currency", "amount", "owner_id"],
    )
    bind = op.get_bind()
    bind.execute(
        pipelines.insert().values(
            name=PIPELINE, position=0, is_default=True, created_at=dt.datetime.now(dt.UTC)
        )
    )
    pipeline_id = bind.execute(
        sa.select(pipelines.c.id).where(pipelines.c.name == PIPELINE)
    ).scalar_one()
    bind.execute(
        stages.insert(),
        [
            {
                "pipeline_id": pipeline_id,
                "name": name,
                "position": position,
                "kind": kind,
                "probability": probability,
                "is_unsorted": is_unsorted,
            }
            for position, (name, kind, probability, is_unsorted) in enumerate(STAGES)
        ],
    )


def downgrade() -> None:
    # Fails on purpose while deals sit in the pipeline: a downgrade must not drop sales data.
    bind = op.get_bind()
    pipeline_id = bind.execute(
        sa.select(pipelines.c.id).where(pipelines.c.name == PIPELINE)
    ).scalar_one_or_none()
    if pipeline_id is not None:
        bind.execute(stages.delete().where(stages.c.pipeline_id == pipeline_id))
        bind.execute(pipelines.delete().where(pipelines.c.id == pipeline_id))
    op.drop_index("ix_deals_board_totals", table_name="deals")
    op.drop_index("ix_deals_owner_stage_created", table_name="deals")
    _drop_board_totals()
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
