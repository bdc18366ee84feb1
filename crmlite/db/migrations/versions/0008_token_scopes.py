"""token scopes: a token for one job (the dialplan's route lookup) and an address allow-list

Existing tokens keep their user's full rights (``scope`` NULL) and are accepted from anywhere
(``allowed_ips`` NULL).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("scope", sa.String(length=32), nullable=True))
    op.add_column("api_tokens", sa.Column("allowed_ips", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Dropping the columns would turn every scoped token into a full-access one: revoke them.
    api_tokens = sa.table(
        "api_tokens",
        sa.column("scope", sa.String(32)),
        sa.column("allowed_ips", sa.JSON()),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        api_tokens.update()
        .where(
            sa.or_(api_tokens.c.scope.is_not(None), api_tokens.c.allowed_ips.is_not(None)),
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=sa.func.current_timestamp())
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("allowed_ips")
        batch.drop_column("scope")
