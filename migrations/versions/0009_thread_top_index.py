"""the roots of a thread in "top" order (most replies first), as an index seek

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:30:00

The public thread read sorted by "top" sorted every root of the thread for each page: the first
page of the biggest thread of a 1M-comment database cost 3.7x (SQLite) and 2.3x (PostgreSQL) what
it costs at 10k (bench/scale.py). Partial on roots: replies never need this order.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_comments_thread_top",
        "comments",
        ["thread_id", "reply_count", "created_at", "id"],
        unique=False,
        sqlite_where=sa.text("root_id IS NULL"),
        postgresql_where=sa.text("root_id IS NULL"),
    )


def downgrade():
    op.drop_index("ix_comments_thread_top", table_name="comments")
