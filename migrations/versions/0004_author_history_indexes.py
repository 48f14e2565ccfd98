"""author history as index seeks: same words by author, approved/rejected by author

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 20:15:00

The submission rules ask, for every post, whether the author wrote the same words recently and
whether they were approved or rejected before. With only (site, author, created_at) those were
scans of the author's recent comments, so posting slowed as an author (or the many readers behind
one address) piled comments up.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_fingerprint")
        batch_op.create_index(
            "ix_comments_author_words", ["site_id", "author_key", "body_fingerprint", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_comments_author_status", ["site_id", "author_key", "status", "created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_author_status")
        batch_op.drop_index("ix_comments_author_words")
        batch_op.create_index("ix_comments_fingerprint", ["body_fingerprint", "created_at"], unique=False)
