"""recent history after a status change as an index seek; the purge's expired suggested scores by date

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00

After a moderator changes an author's status, recent history counts only the decisions made since
(``decided_at``, else ``scored_at``, else ``created_at``, as ``models.DECIDED_AT_KEY``). With fewer
than N of them, the read walked every comment the author ever posted (the decision may be on an old
comment); on this index it reads the author's decisions since the change, newest first.

The purge drops suggested scores (``analysis_feedback``, comments:suggestscore) past
COMMENTS_ANALYSIS_FEEDBACK_DAYS, oldest first, through ``ix_analysis_feedback_created``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_comments_author_decided",
        "comments",
        ["author_id", sa.literal_column("coalesce(decided_at, scored_at, created_at)"), "id"],
        unique=False,
    )
    op.create_index("ix_analysis_feedback_created", "analysis_feedback", ["created_at"], unique=False)


def downgrade():
    op.drop_index("ix_analysis_feedback_created", table_name="analysis_feedback")
    op.drop_index("ix_comments_author_decided", table_name="comments")
