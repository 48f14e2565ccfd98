"""maintenance indexes: erase, export, purge and rescore grow with what they read

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:00:00

Measured at 1M comments (bench/README.md, "Maintenance at 1M comments"):

- erasing an author deleted each comment with a scan of every comment: the foreign key
  reply_to_id (ON DELETE SET NULL) had no index;
- the purge looked for old IP hashes with a scan of every comment: a partial index on
  created_at holds only the comments that still have an IP hash;
- rescoring a site sorted the site's comments by id for every page of 32 on SQLite (the planner
  took (site_id, status, created_at)): (site_id, id) makes a page a range seek;
- a privacy export read the whole site in date order on SQLite to find one author's comments
  (ix_comments_site_created, to skip a sort): the email index now has the dates too;
- the purge of old webhook deliveries reads them by (status, created_at), not the whole log.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_comments_email", table_name="comments")
    op.create_index("ix_comments_email", "comments", ["site_id", "author_email_hash", "created_at", "id"], unique=False)
    op.create_index("ix_comments_reply_to", "comments", ["reply_to_id"], unique=False)
    op.create_index("ix_comments_site_ids", "comments", ["site_id", "id"], unique=False)
    op.create_index(
        "ix_comments_ip_hash_created",
        "comments",
        ["created_at"],
        unique=False,
        sqlite_where=sa.text("ip_hash IS NOT NULL"),
        postgresql_where=sa.text("ip_hash IS NOT NULL"),
    )
    op.create_index("ix_webhook_deliveries_finished", "webhook_deliveries", ["status", "created_at"], unique=False)


def downgrade():
    op.drop_index("ix_webhook_deliveries_finished", table_name="webhook_deliveries")
    op.drop_index("ix_comments_ip_hash_created", table_name="comments")
    op.drop_index("ix_comments_site_ids", table_name="comments")
    op.drop_index("ix_comments_reply_to", table_name="comments")
    op.drop_index("ix_comments_email", table_name="comments")
    op.create_index("ix_comments_email", "comments", ["site_id", "author_email_hash"], unique=False)
