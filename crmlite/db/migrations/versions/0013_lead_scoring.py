"""lead scoring: scores with their factors, rule versions, trainings of the learned score

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_UTC = crmlite.db.models.UtcDateTime(timezone=True)
_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lead_scores",
        sa.Column("subject", sa.String(length=8), nullable=False),
        sa.Column("subject_id", _PK, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.Column("computed_at", _UTC, nullable=False),
        sa.CheckConstraint("subject IN ('contact', 'deal')", name=op.f("ck_lead_scores_subject")),
        sa.CheckConstraint("score >= 0 AND score <= 100", name=op.f("ck_lead_scores_score")),
        sa.PrimaryKeyConstraint("subject", "subject_id", name=op.f("pk_lead_scores")),
    )
    op.create_index("ix_lead_scores_rank", "lead_scores", ["subject", "score", "subject_id"])
    op.create_table(
        "score_rule_sets",
        sa.Column("id", _PK, autoincrement=True, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by_id", _PK, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_score_rule_sets_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_rule_sets")),
    )
    op.create_table(
        "score_models",
        sa.Column("id", _PK, autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("won", sa.Integer(), nullable=False),
        sa.Column("lost", sa.Integer(), nullable=False),
        sa.Column("auc", sa.Numeric(6, 4, asdecimal=False), nullable=True),
        sa.Column("rules_auc", sa.Numeric(6, 4, asdecimal=False), nullable=True),
        sa.Column("model", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("trained_at", _UTC, nullable=False),
        sa.Column("trained_by_id", _PK, nullable=True),
        sa.CheckConstraint(
            "status IN ('in-use', 'rules-better', 'too-few')", name=op.f("ck_score_models_status")
        ),
        sa.ForeignKeyConstraint(
            ["trained_by_id"],
            ["users.id"],
            name=op.f("fk_score_models_trained_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_models")),
    )
    op.create_index("ix_deals_updated_at", "deals", ["updated_at"])
    op.create_index("ix_contacts_updated_at", "contacts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_contacts_updated_at", table_name="contacts")
    op.drop_index("ix_deals_updated_at", table_name="deals")
    op.drop_table("score_models")
    op.drop_table("score_rule_sets")
    op.drop_index("ix_lead_scores_rank", table_name="lead_scores")
    op.drop_table("lead_scores")
