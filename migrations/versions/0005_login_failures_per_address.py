"""login failures per account and client address

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 22:45:00

Five wrong passwords used to lock a moderator's account for everyone, so anyone who knew the
email could keep a moderator out. Failures and locks are now kept per account and client
address; the account-wide counter stays, with a much higher limit.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_login_failures_moderator_id_moderators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
        sa.UniqueConstraint("moderator_id", "address_key", name=op.f("uq_login_failures_moderator_id_address_key")),
    )


def downgrade():
    op.drop_table("login_failures")
