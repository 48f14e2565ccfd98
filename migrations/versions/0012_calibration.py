"""Calibration: score distributions per bin, human verdicts as evidence, spot checks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:50:00

The tables start empty: the distributions and the evidence grow from the next comment scored and
the next decision on (a site's earlier decisions are in the audit log, but their comments' scores
at the time are not: a rebuild from the log would mix models and thresholds).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "score_bins",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("published", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_score_bins_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "label", "day", "model", "bin", name=op.f("pk_score_bins")),
    )
    op.create_table(
        "calibration_evidence",
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("bad", sa.Boolean(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("held_by_label", sa.Boolean(), nullable=False),
        sa.Column("held_seconds", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("decider_type", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "source in ('hold', 'spot_check', 'report')", name=op.f("ck_calibration_evidence_source_known")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_calibration_evidence_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("comment_id", "label", name=op.f("pk_calibration_evidence")),
    )
    op.create_index(
        "ix_calibration_evidence_site_decided", "calibration_evidence", ["site_id", "decided_at"], unique=False
    )
    op.create_table(
        "spot_checks",
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_by_type", sa.String(length=16), nullable=True),
        sa.Column("answered_by_id", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "verdict is null or verdict in ('fine', 'should_have_been_held')", name=op.f("ck_spot_checks_verdict_known")
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name=op.f("fk_spot_checks_comment_id_comments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_spot_checks_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_spot_checks")),
    )
    op.create_index(
        "ix_spot_checks_site_verdict_created", "spot_checks", ["site_id", "verdict", "created_at"], unique=False
    )


def downgrade():
    op.drop_index("ix_spot_checks_site_verdict_created", table_name="spot_checks")
    op.drop_table("spot_checks")
    op.drop_index("ix_calibration_evidence_site_decided", table_name="calibration_evidence")
    op.drop_table("calibration_evidence")
    op.drop_table("score_bins")
