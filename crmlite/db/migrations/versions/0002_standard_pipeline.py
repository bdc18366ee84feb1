"""seed the standard pipeline (CRM core)

The "Sales" pipeline exists from the first start, default, with "Unsorted" first (where deals
made from calls land), then the usual open stages, and one won and one lost stage.
Also adds ``stages.archived_at`` (a removed stage with history is archived, not deleted) and
``ix_deals_board_totals`` (the board's per-column count and sums read from the index alone).

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


def upgrade() -> None:
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", UtcDateTime(timezone=True), nullable=True))
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
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
