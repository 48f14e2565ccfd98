"""moderation figures kept as decisions happen; indexes for the review queues at scale

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:10:00

Issue 13 item 7: the stats page counted the audit log at read time (2 s at a million comments),
the queue counts and queues scanned every comment of a status, sorting by score sorted every held
comment, and the moderators' thread view read 2,000 rows. ``moderation_days`` (held, approved,
rejected per site and UTC day) and ``queue_waits`` (each comment's last decision and its wait) are
now written with every audit event that changes them, and filled here from the whole log; the new
indexes let the queues read only the page they show.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCORE_KEY = sa.literal_column("coalesce(max_score, -1.0)")


def upgrade():
    op.create_table(
        "moderation_days",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_moderation_days_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_moderation_days")),
    )
    op.create_index("ix_moderation_days_day", "moderation_days", ["day"])
    op.create_table(
        "queue_waits",
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("undone", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_queue_waits_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_queue_waits")),
    )
    op.create_index("ix_queue_waits_decided", "queue_waits", ["decided_at"])
    op.create_index("ix_queue_waits_site_decided", "queue_waits", ["site_id", "decided_at"])

    # Partial indexes, one per review queue (the WHERE texts are models.QUEUES_WHERE's).
    held = sa.text("status = 'held'")
    queues = (
        ("ix_comments_held_created", ["created_at", "id"], held),
        ("ix_comments_held_score", [SCORE_KEY.desc(), "id"], held),
        ("ix_comments_site_held_score", ["site_id", SCORE_KEY.desc(), "id"], held),
        ("ix_comments_rejected_created", ["created_at", "id"], sa.text("status = 'rejected'")),
        (
            "ix_comments_reported_queue",
            ["reported_at", "id"],
            sa.text("status = 'published' AND reported_at IS NOT NULL"),
        ),
        (
            "ix_comments_approved_queue",
            ["decided_at", "id"],
            sa.text("status = 'published' AND decided_at IS NOT NULL"),
        ),
    )
    for name, columns, where in queues:
        op.create_index(name, "comments", columns, sqlite_where=where, postgresql_where=where)
    op.create_index("ix_comments_thread_created", "comments", ["thread_id", "created_at", "id"])

    # The figures from the whole audit log, with the same rules the service applies as it writes
    # (one statement of them: services.figures.replay).
    from comments.services.figures import rebuild

    rebuild(op.get_bind())


def downgrade():
    for name in (
        "ix_comments_thread_created",
        "ix_comments_approved_queue",
        "ix_comments_reported_queue",
        "ix_comments_rejected_created",
        "ix_comments_site_held_score",
        "ix_comments_held_score",
        "ix_comments_held_created",
    ):
        op.drop_index(name, table_name="comments")
    op.drop_table("queue_waits")
    op.drop_table("moderation_days")
