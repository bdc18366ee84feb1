"""identities per PBX: two offices may both number their phones from 101

``telephony_identities`` gets a ``pbx`` column (the configured PBX name; NULL, which every
existing row keeps, means every PBX) and the unique (kind, value) becomes unique per PBX: one
partial index for the every-PBX rows, one for the rows of a named PBX, since a unique constraint
counts NULLs as distinct on both databases. Call activities note the PBX they went through, so
reports and the call log filter by office. ``consumer_instances`` lists the instances alive, so
the PBXs' consumer leases spread over them.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_UTC = crmlite.db.models.UtcDateTime(timezone=True)
_EVERY = sa.text("pbx IS NULL")
_ONE = sa.text("pbx IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("telephony_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pbx", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("uq_telephony_identities_kind_value", type_="unique")
        batch_op.create_index(
            "uq_telephony_identities_every_pbx",
            ["kind", "value"],
            unique=True,
            sqlite_where=_EVERY,
            postgresql_where=_EVERY,
        )
        batch_op.create_index(
            "uq_telephony_identities_pbx_kind_value",
            ["pbx", "kind", "value"],
            unique=True,
            sqlite_where=_ONE,
            postgresql_where=_ONE,
        )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pbx", sa.String(length=64), nullable=True))
    op.create_table(
        "consumer_instances",
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("seen_at", _UTC, nullable=False),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_consumer_instances")),
    )


def downgrade() -> None:
    op.drop_table("consumer_instances")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_column("pbx")
    # Going back to one PBX: a (kind, value) kept on two PBXs cannot stay unique; the
    # downgrade fails on it rather than guess which office's user to drop.
    with op.batch_alter_table("telephony_identities", schema=None) as batch_op:
        batch_op.drop_index("uq_telephony_identities_pbx_kind_value")
        batch_op.drop_index("uq_telephony_identities_every_pbx")
        batch_op.create_unique_constraint("uq_telephony_identities_kind_value", ["kind", "value"])
        batch_op.drop_column("pbx")
