"""consumer leases: one AMI consumer per PBX, taken over when its lease runs out

An advisory lock stays held while its connection is open, so a frozen consumer (SIGSTOP, a long
pause) kept every standby waiting. A row per PBX with a deadline and a fencing epoch replaces it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0009"
# Chained to 0007 on this branch; the merge puts 0008 (token scopes) in between.
down_revision = "0008"
branch_labels = None
depends_on = None

_UTC = crmlite.db.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consumer_leases",
        sa.Column("pbx", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("pbx", name=op.f("pk_consumer_leases")),
    )


def downgrade() -> None:
    op.drop_table("consumer_leases")
