"""Ticket batch window: customer messages until then reach staff together.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("batch_window_ends_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("batch_window_ends_at")
