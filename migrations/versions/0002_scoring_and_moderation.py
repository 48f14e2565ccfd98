"""classifier scores, moderator tokens, bans, login throttling

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:16:11.519450

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("author_key", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["moderator_id"], ["moderators.id"], name=op.f("fk_bans_moderator_id_moderators"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_bans_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bans")),
        sa.UniqueConstraint("site_id", "author_key", name=op.f("uq_bans_site_id_author_key")),
    )
    op.create_table(
        "moderator_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_moderator_tokens_moderator_id_moderators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderator_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_moderator_tokens_token_hash")),
    )
    with op.batch_alter_table("moderator_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_moderator_tokens_moderator_id"), ["moderator_id"], unique=False)

    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("reason_codes", sa.String(length=500), nullable=False, server_default=""))
        # Existing rows get a value through the server default.
        batch_op.add_column(sa.Column("needs_scoring", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_comments_needs_scoring", ["needs_scoring", "status"], unique=False)

    with op.batch_alter_table("moderators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("moderators", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")

    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_needs_scoring")
        batch_op.drop_column("needs_scoring")
        batch_op.drop_column("max_score")
        batch_op.drop_column("reason_codes")

    with op.batch_alter_table("moderator_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_moderator_tokens_moderator_id"))

    op.drop_table("moderator_tokens")
    op.drop_table("bans")
