"""stage robots: per-stage automation, its effects applied once, and the fields robots set

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = crmlite.db.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite keeps the board-total triggers on ``deals``.
    op.add_column("deals", sa.Column("probability", sa.Integer(), nullable=True))
    op.add_column("deals", sa.Column("tags", sa.JSON(none_as_null=True), nullable=True))
    op.create_index("ix_deals_stage_entered", "deals", ["stage_id", "stage_entered_at"])
    op.create_table(
        "stage_robots",
        sa.Column("id", _ID, nullable=False),
        sa.Column("stage_id", _ID, nullable=False),
        sa.Column("trigger", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active_since", _UTC, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.Column("created_by_id", _ID, nullable=True),
        sa.CheckConstraint("trigger IN ('enter', 'stuck')", name=op.f("ck_stage_robots_trigger")),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_stage_robots_stage_id_stages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_stage_robots_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_robots")),
    )
    op.create_index("ix_stage_robots_stage", "stage_robots", ["stage_id", "position"])
    op.create_table(
        "robot_effects",
        sa.Column("id", _ID, nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("effect", sa.String(length=64), nullable=False),
        sa.Column("robot_id", _ID, nullable=True),
        sa.Column("deal_id", _ID, nullable=False),
        sa.Column("stage_id", _ID, nullable=False),
        sa.Column("entered_at", _UTC, nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("task_id", _ID, nullable=True),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.CheckConstraint("outcome IN ('done', 'skipped')", name=op.f("ck_robot_effects_outcome")),
        sa.ForeignKeyConstraint(
            ["robot_id"],
            ["stage_robots.id"],
            name=op.f("fk_robot_effects_robot_id_stage_robots"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_robot_effects_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_robot_effects_stage_id_stages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["activities.id"],
            name=op.f("fk_robot_effects_task_id_activities"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_effects")),
        sa.UniqueConstraint("entry_key", "effect", name=op.f("uq_robot_effects_entry_key_effect")),
    )
    op.create_index(
        "ix_robot_effects_robot_deal", "robot_effects", ["robot_id", "deal_id", "entered_at"]
    )
    op.create_index("ix_robot_effects_deal", "robot_effects", ["deal_id", "entered_at"])


def downgrade() -> None:
    op.drop_index("ix_robot_effects_deal", table_name="robot_effects")
    op.drop_index("ix_robot_effects_robot_deal", table_name="robot_effects")
    op.drop_table("robot_effects")
    op.drop_index("ix_stage_robots_stage", table_name="stage_robots")
    op.drop_table("stage_robots")
    op.drop_index("ix_deals_stage_entered", table_name="deals")
    with op.batch_alter_table("deals") as batch_op:
        batch_op.drop_column("tags")
        batch_op.drop_column("probability")
