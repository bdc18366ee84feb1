"""campaigns and call tracking (reports)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Plain indexed columns, no foreign keys: SQLite adds a column in place but would have to rebuild
# contacts/deals/activities (and, with foreign keys on, cascade through them) to add a constraint.
TOUCH_COLUMNS = {
    "contacts": ("first_campaign_id", "latest_campaign_id"),
    "deals": ("first_campaign_id", "latest_campaign_id"),
    "activities": ("campaign_id",),
}
REPORT_INDEXES = {
    "ix_contacts_first_campaign": ("contacts", ["first_campaign_id", "created_at"]),
    "ix_contacts_latest_campaign": ("contacts", ["latest_campaign_id", "created_at"]),
    "ix_deals_first_campaign": (
        "deals",
        ["first_campaign_id", "created_at", "stage_id", "currency", "amount"],
    ),
    "ix_deals_latest_campaign": (
        "deals",
        ["latest_campaign_id", "created_at", "stage_id", "currency", "amount"],
    ),
    "ix_activities_campaign_calls": (
        "activities",
        ["campaign_id", "kind", "started_at", "direction", "answered_at", "from_number"],
    ),
    "ix_stage_changes_stays": ("deal_stage_changes", ["to_stage_id", "stay_s", "changed_at"]),
    "ix_stage_changes_entered_stays": (
        "deal_stage_changes",
        ["to_stage_id", "changed_at", "stay_s"],
    ),
    "ix_stage_changes_first_visits": (
        "deal_stage_changes",
        ["deal_id", "first_visit", "to_stage_id"],
    ),
    "ix_deals_pipeline_created": ("deals", ["pipeline_id", "created_at"]),
    "ix_deals_pipeline_closed": (
        "deals",
        [
            "pipeline_id",
            "closed_at",
            "stage_id",
            "currency",
            "amount",
            "created_at",
            "owner_id",
            "lost_reason",
        ],
    ),
    "ix_activities_calls_from": (
        "activities",
        ["from_number", "kind", "direction", "started_at", "answered_at"],
    ),
    "ix_activities_calls_to": ("activities", ["to_number", "kind", "direction", "started_at"]),
    "ix_activities_call_reports": (
        "activities",
        [
            "kind",
            "started_at",
            "direction",
            "answered_at",
            "agent_id",
            "duration_s",
            "from_number",
            "contact_id",
        ],
    ),
}

# Each stage change begins a stay; the next change of the deal ends it. The trigger writes that
# onto the earlier row (and onto the new row when it was inserted out of order), so reports read
# stay lengths from an index instead of pairing a million rows with window functions.
SQLITE_SECONDS = "CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400.0) AS INTEGER)"
PG_SECONDS = "CAST(ROUND(EXTRACT(EPOCH FROM ({later} - {earlier}))) AS BIGINT)"
SQLITE_BEFORE = (
    "(p.changed_at < NEW.changed_at OR (p.changed_at = NEW.changed_at AND p.id < NEW.id))"
)
SQLITE_AFTER = (
    "(n.changed_at > NEW.changed_at OR (n.changed_at = NEW.changed_at AND n.id > NEW.id))"
)
SQLITE_TRIGGER = f"""
CREATE TRIGGER trg_stage_changes_stays AFTER INSERT ON deal_stage_changes
BEGIN
    UPDATE deal_stage_changes
       SET left_at = NEW.changed_at,
           stay_s = {SQLITE_SECONDS.format(later="NEW.changed_at", earlier="changed_at")}
     WHERE id = (SELECT p.id FROM deal_stage_changes p
                  WHERE p.deal_id = NEW.deal_id AND p.id <> NEW.id AND {SQLITE_BEFORE}
                  ORDER BY p.changed_at DESC, p.id DESC LIMIT 1);
    UPDATE deal_stage_changes
       SET left_at = (SELECT n.changed_at FROM deal_stage_changes n
                       WHERE n.deal_id = NEW.deal_id AND n.id <> NEW.id AND {SQLITE_AFTER}
                       ORDER BY n.changed_at, n.id LIMIT 1)
     WHERE id = NEW.id;
    UPDATE deal_stage_changes
       SET stay_s = {SQLITE_SECONDS.format(later="left_at", earlier="changed_at")}
     WHERE id = NEW.id AND left_at IS NOT NULL;
    UPDATE deal_stage_changes
       SET first_visit = NOT EXISTS (
           SELECT 1 FROM deal_stage_changes p
            WHERE p.deal_id = NEW.deal_id AND p.to_stage_id = NEW.to_stage_id
              AND p.id <> NEW.id AND {SQLITE_BEFORE})
     WHERE id = NEW.id;
    UPDATE deal_stage_changes
       SET first_visit = 0
     WHERE deal_id = NEW.deal_id AND to_stage_id = NEW.to_stage_id AND id <> NEW.id
       AND first_visit = 1
       AND (changed_at > NEW.changed_at OR (changed_at = NEW.changed_at AND id > NEW.id));
END
"""  # noqa: S608 - constant text, no input
PG_FUNCTION = f"""
CREATE FUNCTION deal_stage_changes_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deal_stage_changes
       SET left_at = NEW.changed_at,
           stay_s = {PG_SECONDS.format(later="NEW.changed_at", earlier="changed_at")}
     WHERE id = (SELECT p.id FROM deal_stage_changes p
                  WHERE p.deal_id = NEW.deal_id AND p.id <> NEW.id
                    AND (p.changed_at, p.id) < (NEW.changed_at, NEW.id)
                  ORDER BY p.changed_at DESC, p.id DESC LIMIT 1);
    UPDATE deal_stage_changes AS c
       SET left_at = n.changed_at,
           stay_s = {PG_SECONDS.format(later="n.changed_at", earlier="c.changed_at")}
      FROM (SELECT changed_at FROM deal_stage_changes
             WHERE deal_id = NEW.deal_id AND id <> NEW.id
               AND (changed_at, id) > (NEW.changed_at, NEW.id)
             ORDER BY changed_at, id LIMIT 1) AS n
     WHERE c.id = NEW.id;
    UPDATE deal_stage_changes
       SET first_visit = NOT EXISTS (
           SELECT 1 FROM deal_stage_changes p
            WHERE p.deal_id = NEW.deal_id AND p.to_stage_id = NEW.to_stage_id
              AND p.id <> NEW.id AND (p.changed_at, p.id) < (NEW.changed_at, NEW.id))
     WHERE id = NEW.id;
    UPDATE deal_stage_changes
       SET first_visit = false
     WHERE deal_id = NEW.deal_id AND to_stage_id = NEW.to_stage_id AND id <> NEW.id
       AND first_visit AND (changed_at, id) > (NEW.changed_at, NEW.id);
    RETURN NULL;
END
$$
"""  # noqa: S608 - constant text, no input
PG_TRIGGER = (
    "CREATE TRIGGER trg_stage_changes_stays AFTER INSERT ON deal_stage_changes "
    "FOR EACH ROW EXECUTE FUNCTION deal_stage_changes_stays()"
)
BACKFILL_FIRST_VISIT = """
UPDATE deal_stage_changes SET first_visit = NOT EXISTS (
    SELECT 1 FROM deal_stage_changes p
     WHERE p.deal_id = deal_stage_changes.deal_id AND p.to_stage_id = deal_stage_changes.to_stage_id
       AND p.id <> deal_stage_changes.id
       AND (p.changed_at < deal_stage_changes.changed_at
            OR (p.changed_at = deal_stage_changes.changed_at AND p.id < deal_stage_changes.id)))
"""
BACKFILL_LEFT_AT = """
UPDATE deal_stage_changes SET left_at = (
    SELECT n.changed_at FROM deal_stage_changes n
     WHERE n.deal_id = deal_stage_changes.deal_id AND n.id <> deal_stage_changes.id
       AND (n.changed_at > deal_stage_changes.changed_at
            OR (n.changed_at = deal_stage_changes.changed_at AND n.id > deal_stage_changes.id))
     ORDER BY n.changed_at, n.id LIMIT 1)
"""


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", crmlite.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_sources",
        sa.Column("id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("active_from", crmlite.db.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("active_until", crmlite.db.models.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('did', 'caller_prefix', 'web_form')", name=op.f("ck_campaign_sources_kind")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_sources_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_sources")),
    )
    op.create_index(
        op.f("ix_campaign_sources_campaign_id"), "campaign_sources", ["campaign_id"], unique=False
    )
    op.create_index("ix_campaign_sources_lookup", "campaign_sources", ["kind", "value"])
    op.create_table(
        "campaign_costs",
        sa.Column("id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_campaign_costs_amount")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_campaign_costs_period")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_costs_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_costs")),
    )
    op.create_index(
        op.f("ix_campaign_costs_campaign_id"), "campaign_costs", ["campaign_id"], unique=False
    )
    for table, columns in TOUCH_COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(column, ID, nullable=True))
    op.add_column(
        "deal_stage_changes",
        sa.Column("left_at", crmlite.db.models.UtcDateTime(timezone=True), nullable=True),
    )
    op.add_column("deal_stage_changes", sa.Column("stay_s", sa.BigInteger(), nullable=True))
    op.add_column("deal_stage_changes", sa.Column("first_visit", sa.Boolean(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    seconds = SQLITE_SECONDS if sqlite else PG_SECONDS
    op.execute(BACKFILL_LEFT_AT)
    op.execute(BACKFILL_FIRST_VISIT)
    stay = seconds.format(later="left_at", earlier="changed_at")
    op.execute(f"UPDATE deal_stage_changes SET stay_s = {stay} WHERE left_at IS NOT NULL")  # noqa: S608
    if sqlite:
        op.execute(SQLITE_TRIGGER)
    else:
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    for name, (table, indexed) in REPORT_INDEXES.items():
        op.create_index(name, table, indexed, unique=False)


def downgrade() -> None:
    for name, (table, _columns) in REPORT_INDEXES.items():
        op.drop_index(name, table_name=table)
    op.execute(
        "DROP TRIGGER IF EXISTS trg_stage_changes_stays"
        + ("" if op.get_bind().dialect.name == "sqlite" else " ON deal_stage_changes")
    )
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS deal_stage_changes_stays()")
    op.drop_column("deal_stage_changes", "first_visit")
    op.drop_column("deal_stage_changes", "stay_s")
    op.drop_column("deal_stage_changes", "left_at")
    for table, columns in TOUCH_COLUMNS.items():
        for column in columns:
            op.drop_column(table, column)
    op.drop_index(op.f("ix_campaign_costs_campaign_id"), table_name="campaign_costs")
    op.drop_table("campaign_costs")
    op.drop_index("ix_campaign_sources_lookup", table_name="campaign_sources")
    op.drop_index(op.f("ix_campaign_sources_campaign_id"), table_name="campaign_sources")
    op.drop_table("campaign_sources")
    op.drop_table("campaigns")
