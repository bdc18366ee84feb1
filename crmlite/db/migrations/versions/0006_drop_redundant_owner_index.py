"""drop ix_deals_owner_stage: a prefix of ix_deals_owner_stage_created

Every lookup ``ix_deals_owner_stage`` (owner_id, stage_id) served is served as well by
``ix_deals_owner_stage_created`` (owner_id, stage_id, created_at), added in 0002. Keeping both
cost every deal insert and stage move one more index write.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deals_owner_stage", table_name="deals")


def downgrade() -> None:
    op.create_index("ix_deals_owner_stage", "deals", ["owner_id", "stage_id"])
