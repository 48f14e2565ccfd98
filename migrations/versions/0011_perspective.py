"""Perspective-compatible analysis: the scores clients suggest (comments:suggestscore)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:10:00

API keys get a third scope, ``analyze``, in the existing space-separated ``scopes`` column: no
change there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "analysis_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attribute_scores", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("community_id", sa.String(length=500), nullable=True),
        sa.Column("client_token", sa.String(length=500), nullable=True),
        sa.Column("session_id", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analysis_feedback_site", "analysis_feedback", ["site_id", "id"])


def downgrade():
    op.drop_index("ix_analysis_feedback_site", table_name="analysis_feedback")
    op.drop_table("analysis_feedback")
