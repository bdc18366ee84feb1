"""call effects, unsorted decisions, rules, webhooks (calls into CRM)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = crmlite.db.models.UtcDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="SET NULL",
    )


def upgrade() -> None:
    op.create_table(
        "call_effects",
        sa.Column("id", _ID, nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("effect", sa.String(length=96), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", _ID, nullable=True),
        sa.Column("deal_id", _ID, nullable=True),
        sa.Column("activity_id", _ID, nullable=True),
        sa.Column("user_id", _ID, nullable=True),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        _fk("call_effects", "contact_id", "contacts"),
        _fk("call_effects", "deal_id", "deals"),
        _fk("call_effects", "activity_id", "activities"),
        _fk("call_effects", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_effects")),
        sa.UniqueConstraint("linkedid", "effect", name=op.f("uq_call_effects_linkedid_effect")),
    )
    op.create_table(
        "blocked_numbers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("normalized", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by_id", _ID, nullable=True),
        _fk("blocked_numbers", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_numbers")),
        sa.UniqueConstraint("normalized", name=op.f("uq_blocked_numbers_normalized")),
    )
    op.create_table(
        "inbox_decisions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("deal_id", _ID, nullable=False),
        sa.Column("deal_title", sa.String(length=200), nullable=False),
        sa.Column("contact_id", _ID, nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("into_deal_id", _ID, nullable=True),
        sa.Column("decided_by_id", _ID, nullable=True),
        sa.Column("decided_at", _UTC, nullable=False),
        sa.CheckConstraint(
            "decision IN ('accepted', 'declined', 'merged')",
            name=op.f("ck_inbox_decisions_decision"),
        ),
        _fk("inbox_decisions", "contact_id", "contacts"),
        _fk("inbox_decisions", "into_deal_id", "deals"),
        _fk("inbox_decisions", "decided_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_decisions")),
    )
    with op.batch_alter_table("inbox_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_decisions_deal_id"), ["deal_id"], unique=False)
    op.create_table(
        "rule_sets",
        sa.Column("id", _ID, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by_id", _ID, nullable=True),
        _fk("rule_sets", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_sets")),
    )
    op.create_table(
        "round_robin_cursors",
        sa.Column("group_name", sa.String(length=100), nullable=False),
        sa.Column("last_user_id", _ID, nullable=True),
        sa.Column("updated_at", _UTC, nullable=False),
        _fk("round_robin_cursors", "last_user_id", "users"),
        sa.PrimaryKeyConstraint("group_name", name=op.f("pk_round_robin_cursors")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", _UTC, nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("delivered_at", _UTC, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_webhook_deliveries_delivery_id")),
        sa.UniqueConstraint(
            "endpoint", "event_id", name=op.f("uq_webhook_deliveries_endpoint_event_id")
        ),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_due")
    op.drop_table("webhook_deliveries")
    op.drop_table("round_robin_cursors")
    op.drop_table("rule_sets")
    with op.batch_alter_table("inbox_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_decisions_deal_id"))
    op.drop_table("inbox_decisions")
    op.drop_table("blocked_numbers")
    op.drop_table("call_effects")
