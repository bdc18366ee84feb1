"""ix_contacts_pool_order (pooled_at, id) replaces ix_contacts_pooled_at (pooled_at)

The pool lists the contacts that came back last first, ties by id. One pass of the idle return
stamps thousands of contacts with the same ``pooled_at``: with the time alone in the index,
PostgreSQL read every pooled contact and sorted them to give the first page. With the id beside
it the page is read off the index in order and stops after the page. Every other use of the old
index (``pooled_at IS NOT NULL``) is served by the new one's first column.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contacts_pool_order", "contacts", ["pooled_at", "id"])
    op.drop_index("ix_contacts_pooled_at", table_name="contacts")


def downgrade() -> None:
    op.create_index("ix_contacts_pooled_at", "contacts", ["pooled_at"])
    op.drop_index("ix_contacts_pool_order", table_name="contacts")
