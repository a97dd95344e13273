"""Staff workspace: ticket lifecycle, cards with buttons, staff members, files, bans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_member",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_name", sa.String(length=256), nullable=False),
        sa.Column("last_name", sa.String(length=256), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_member")),
    )
    op.create_index(op.f("ix_staff_member_username"), "staff_member", ["username"])
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("card_state", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_ticket_status"), ["status"])
    with op.batch_alter_table("customer") as batch:
        batch.add_column(
            sa.Column("ban_notice_sent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("reply_to_message_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("file_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("file_data", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("file_data")
        batch.drop_column("file_name")
        batch.drop_column("reply_to_message_id")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("ban_notice_sent")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index(batch.f("ix_ticket_status"))
        batch.drop_column("card_state")
        batch.drop_column("version")
    op.drop_index(op.f("ix_staff_member_username"), table_name="staff_member")
    op.drop_table("staff_member")
