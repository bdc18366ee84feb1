"""customer base: the public pool, every email of a contact, merges, imports

The idle clock of the pool starts at this upgrade for contacts that already have an owner
(``owned_since`` is set to now), so upgrading an install returns nobody to the pool at once:
each owner gets the full ``[pool] idle_days`` from the upgrade on.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = crmlite.db.models.UtcDateTime(timezone=True)


def _fk(
    table: str, column: str, target: str, ondelete: str = "SET NULL"
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.add_column("contacts", sa.Column("owned_since", _UTC, nullable=True))
    op.add_column("contacts", sa.Column("pooled_at", _UTC, nullable=True))
    op.create_index(op.f("ix_contacts_pooled_at"), "contacts", ["pooled_at"])
    contacts = sa.table(
        "contacts",
        sa.column("owner_id", _ID),
        sa.column("owned_since", _UTC),
    )
    op.execute(
        contacts.update()
        .where(contacts.c.owner_id.is_not(None))
        .values(owned_since=dt.datetime.now(dt.UTC))
    )

    op.create_table(
        "contact_emails",
        sa.Column("id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("normalized", sa.String(length=254), nullable=False),
        _fk("contact_emails", "contact_id", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_emails")),
        sa.UniqueConstraint(
            "contact_id", "normalized", name=op.f("uq_contact_emails_contact_id_normalized")
        ),
    )
    op.create_index(op.f("ix_contact_emails_normalized"), "contact_emails", ["normalized"])
    op.execute(
        "INSERT INTO contact_emails (contact_id, address, normalized) "
        "SELECT id, email, lower(email) FROM contacts WHERE email IS NOT NULL"
    )

    op.create_table(
        "contact_pool_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_user_id", _ID, nullable=True),
        sa.Column("to_user_id", _ID, nullable=True),
        sa.Column("by_user_id", _ID, nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("at", _UTC, nullable=False),
        sa.CheckConstraint(
            "kind IN ('returned', 'released', 'claimed', 'assigned')",
            name=op.f("ck_contact_pool_events_kind"),
        ),
        _fk("contact_pool_events", "contact_id", "contacts", "CASCADE"),
        _fk("contact_pool_events", "from_user_id", "users"),
        _fk("contact_pool_events", "to_user_id", "users"),
        _fk("contact_pool_events", "by_user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_pool_events")),
    )
    op.create_index(
        "ix_contact_pool_events_contact_at", "contact_pool_events", ["contact_id", "at"]
    )

    op.create_table(
        "contact_merges",
        sa.Column("id", _ID, nullable=False),
        sa.Column("merged_id", _ID, nullable=False),
        sa.Column("survivor_id", _ID, nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("keep", sa.JSON(), nullable=False),
        sa.Column("merged_by_id", _ID, nullable=True),
        sa.Column("merged_at", _UTC, nullable=False),
        _fk("contact_merges", "merged_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_merges")),
        sa.UniqueConstraint("merged_id", name=op.f("uq_contact_merges_merged_id")),
    )
    op.create_index(op.f("ix_contact_merges_survivor_id"), "contact_merges", ["survivor_id"])

    op.create_table(
        "import_runs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_by_id", _ID, nullable=True),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.CheckConstraint("kind IN ('contacts', 'deals')", name=op.f("ck_import_runs_kind")),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed')", name=op.f("ck_import_runs_status")
        ),
        _fk("import_runs", "started_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index("ix_import_runs_file", "import_runs", ["kind", "file_sha256"])

    op.create_table(
        "imported_rows",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=False),
        sa.Column("entity_id", _ID, nullable=True),
        sa.Column("run_id", _ID, nullable=True),
        _fk("imported_rows", "run_id", "import_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_rows")),
        sa.UniqueConstraint("kind", "row_key", name=op.f("uq_imported_rows_kind_row_key")),
    )


def downgrade() -> None:
    op.drop_table("imported_rows")
    op.drop_index("ix_import_runs_file", table_name="import_runs")
    op.drop_table("import_runs")
    op.drop_index(op.f("ix_contact_merges_survivor_id"), table_name="contact_merges")
    op.drop_table("contact_merges")
    op.drop_index("ix_contact_pool_events_contact_at", table_name="contact_pool_events")
    op.drop_table("contact_pool_events")
    op.drop_index(op.f("ix_contact_emails_normalized"), table_name="contact_emails")
    op.drop_table("contact_emails")
    op.drop_index(op.f("ix_contacts_pooled_at"), table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("pooled_at")
        batch.drop_column("owned_since")
