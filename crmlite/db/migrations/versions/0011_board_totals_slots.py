"""board totals in slots: no single hot row for every call-made deal in Unsorted

Every deal a call makes lands in Unsorted, unowned, in the same currency, so the trigger-kept
``board_totals`` row of (Unsorted, nobody, RUB) was written by every such transaction and, on
PostgreSQL, held locked until its commit: concurrent calls queued behind one another there. The
totals are now kept in 16 slots per (stage, owner, currency), chosen by the deal's id (a deal's
updates keep to its slot), and the board sums the slots. SQLite has one writer at a time, so its
triggers keep slot 0 only.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TRACKED = "stage_id, pipeline_id, owner_id, currency, amount"
SLOTS = 16
CENTS = {
    "sqlite": "CAST(ROUND({row}.amount * 100) AS INTEGER)",
    "postgresql": "ROUND({row}.amount * 100)::bigint",
}
SLOT = {"sqlite": "0", "postgresql": f"({{row}}.id % {SLOTS})"}


def _add(dialect: str, row: str, prefix: str, *, slotted: bool) -> str:
    slot_column = ", slot" if slotted else ""
    slot_value = ", " + SLOT[dialect].format(row=row) if slotted else ""
    key = "stage_id, owner_key, currency" + (", slot" if slotted else "")
    return (
        f"INSERT INTO board_totals (stage_id, owner_key, currency{slot_column}, pipeline_id, "  # noqa: S608
        f"deals, cents) VALUES ({row}.stage_id, COALESCE({row}.owner_id, 0), {row}.currency"
        f"{slot_value}, {row}.pipeline_id, 1, {CENTS[dialect].format(row=row)}) "
        f"ON CONFLICT ({key}) DO UPDATE "
        f"SET deals = {prefix}deals + 1, cents = {prefix}cents + excluded.cents"
    )


def _remove(dialect: str, row: str, *, slotted: bool) -> str:
    slot = f" AND slot = {SLOT[dialect].format(row=row)}" if slotted else ""
    return (
        f"UPDATE board_totals SET deals = deals - 1, cents = cents - "  # noqa: S608
        f"{CENTS[dialect].format(row=row)} WHERE stage_id = {row}.stage_id "
        f"AND owner_key = COALESCE({row}.owner_id, 0) AND currency = {row}.currency{slot}"
    )


def _create_triggers(dialect: str, *, slotted: bool) -> None:
    if dialect == "sqlite":
        add = _add(dialect, "NEW", "", slotted=slotted)
        remove = _remove(dialect, "OLD", slotted=slotted)
        op.execute(f"CREATE TRIGGER trg_board_totals_insert AFTER INSERT ON deals BEGIN {add}; END")
        op.execute(
            f"CREATE TRIGGER trg_board_totals_delete AFTER DELETE ON deals BEGIN {remove}; END"
        )
        op.execute(
            f"CREATE TRIGGER trg_board_totals_update AFTER UPDATE OF {TRACKED} ON deals "
            f"BEGIN {remove}; {add}; END"
        )
        return
    op.execute(
        "CREATE FUNCTION board_totals_track() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
        f"        {_remove(dialect, 'OLD', slotted=slotted)};\n"
        "    END IF;\n"
        "    IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
        f"        {_add(dialect, 'NEW', 'board_totals.', slotted=slotted)};\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$"
    )
    op.execute(
        f"CREATE TRIGGER trg_board_totals AFTER INSERT OR DELETE OR UPDATE OF {TRACKED} ON deals "
        "FOR EACH ROW EXECUTE FUNCTION board_totals_track()"
    )


def _drop_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_board_totals_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_board_totals ON deals")
        op.execute("DROP FUNCTION IF EXISTS board_totals_track()")


def _create_table(dialect: str, *, slotted: bool) -> None:
    key = ["stage_id", "owner_key", "currency"] + (["slot"] if slotted else [])
    op.create_table(
        "board_totals",
        sa.Column("stage_id", ID, nullable=False),
        sa.Column("owner_key", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *([sa.Column("slot", sa.SmallInteger(), nullable=False)] if slotted else []),
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
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_board_totals")),
    )
    op.create_index("ix_board_totals_pipeline", "board_totals", ["pipeline_id", "stage_id"])
    cents = CENTS[dialect].format(row="deals")
    slot = SLOT[dialect].format(row="deals")
    groups = "stage_id, COALESCE(owner_id, 0), currency"
    picked = groups + (f", {slot}" if slotted else "")
    if slotted and dialect != "sqlite":  # SQLite's slot is the constant 0: nothing to group by
        groups += f", {slot}"
    columns = "stage_id, owner_key, currency" + (", slot" if slotted else "")
    op.execute(
        f"INSERT INTO board_totals ({columns}, pipeline_id, deals, cents) "  # noqa: S608
        f"SELECT {picked}, MIN(pipeline_id), COUNT(*), SUM({cents}) FROM deals GROUP BY {groups}"
    )


def _rebuild(*, slotted: bool) -> None:
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    op.drop_index("ix_board_totals_pipeline", table_name="board_totals")
    op.drop_table("board_totals")
    _create_table(dialect, slotted=slotted)
    _create_triggers(dialect, slotted=slotted)


def upgrade() -> None:
    _rebuild(slotted=True)


def downgrade() -> None:
    _rebuild(slotted=False)
