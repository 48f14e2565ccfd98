"""replies of one comment in reading order, as an index seek

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:00:00

Thread reads carry the first few replies of each comment and page the rest
(GET /api/v1/comments/{id}/replies). Both ask for "the replies of this comment after (created_at,
id), oldest first, the first N": with only (parent_id) that read every reply of the comment and
sorted them, so a comment with thousands of replies made every page that showed it slow.
The new index starts with parent_id, so the old one on parent_id alone goes (foreign-key checks
and "has replies?" use the new one).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_parent_order", ["parent_id", "created_at", "id"], unique=False)
        batch_op.drop_index("ix_comments_parent")


def downgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_parent", ["parent_id"], unique=False)
        batch_op.drop_index("ix_comments_parent_order")
