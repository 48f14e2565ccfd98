"""readers' identity: authors as people, SSO secrets, revoked sign-on tokens; bans become an author status

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:40:00

Every existing author key (per site) gets an author record with its names and first and last
comment; every comment points at its author; every row of ``bans`` becomes its author's status
``banned`` (an author banned before they commented gets a record too), and ``bans`` goes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("author_key", sa.String(length=64), nullable=False),
        sa.Column("sso_user_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("badges", sa.JSON(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_until", sa.DateTime(), nullable=True),
        sa.Column("status_reason", sa.String(length=500), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status in ('active', 'premod', 'suspended', 'banned')", name=op.f("ck_authors_status_known")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_authors_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
        sa.UniqueConstraint("site_id", "author_key", name=op.f("uq_authors_site_id_author_key")),
        sa.UniqueConstraint("site_id", "sso_user_id", name=op.f("uq_authors_site_id_sso_user_id")),
    )
    op.create_index("ix_authors_site_status", "authors", ["site_id", "status"], unique=False)
    op.create_table(
        "author_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("first_used_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["authors.id"], name=op.f("fk_author_names_author_id_authors"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_names")),
        sa.UniqueConstraint("author_id", "name", name=op.f("uq_author_names_author_id_name")),
    )
    op.create_table(
        "sso_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_sso_secrets_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_secrets")),
    )
    op.create_index(op.f("ix_sso_secrets_site_id"), "sso_secrets", ["site_id"], unique=False)
    op.create_table(
        "revoked_sso_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_revoked_sso_tokens_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revoked_sso_tokens")),
        sa.UniqueConstraint("site_id", "jti_hash", name=op.f("uq_revoked_sso_tokens_site_id_jti_hash")),
    )
    op.create_index(op.f("ix_revoked_sso_tokens_expires_at"), "revoked_sso_tokens", ["expires_at"], unique=False)

    postgres = op.get_bind().dialect.name == "postgresql"
    # No foreign key (see models.Comment.author_id): SQLite would copy the whole table to add one.
    op.add_column("comments", sa.Column("author_id", sa.Integer(), nullable=True))
    op.add_column("comments", sa.Column("author_badges", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("comments", sa.Column("author_verified", sa.Boolean(), nullable=False, server_default=sa.false()))

    # Every author key that has commented, with its latest name and first and last comment.
    op.execute(
        "INSERT INTO authors (site_id, author_key, name, badges, verified, email_hash, url, role, status,"
        " status_reason, first_seen_at, last_seen_at)"
        " SELECT site_id, author_key, '', '[]', false, max(author_email_hash), '', '', 'active', '',"
        " min(created_at), max(created_at) FROM comments GROUP BY site_id, author_key"
    )
    op.execute(
        "UPDATE authors SET name = coalesce((SELECT c.author_name FROM comments c"
        " WHERE c.site_id = authors.site_id AND c.author_key = authors.author_key AND c.author_name <> ''"
        " ORDER BY c.created_at DESC, c.id DESC LIMIT 1), '')"
    )
    if postgres:
        op.execute(
            "UPDATE comments SET author_id = a.id FROM authors a"
            " WHERE a.site_id = comments.site_id AND a.author_key = comments.author_key"
        )
    else:
        op.execute(
            "UPDATE comments SET author_id = (SELECT a.id FROM authors a"
            " WHERE a.site_id = comments.site_id AND a.author_key = comments.author_key)"
        )
    op.execute(
        "INSERT INTO author_names (author_id, name, first_used_at, last_used_at)"
        " SELECT author_id, author_name, min(created_at), max(created_at) FROM comments"
        " WHERE author_name <> '' AND author_id IS NOT NULL GROUP BY author_id, author_name"
    )
    # Bans: an author banned before commenting (by a moderator of a comment since erased) too.
    op.execute(
        "INSERT INTO authors (site_id, author_key, name, badges, verified, url, role, status,"
        " status_reason, first_seen_at, last_seen_at)"
        " SELECT b.site_id, b.author_key, '', '[]', false, '', '', 'active', '', b.created_at, b.created_at"
        " FROM bans b WHERE NOT EXISTS (SELECT 1 FROM authors a"
        " WHERE a.site_id = b.site_id AND a.author_key = b.author_key)"
    )
    op.execute(
        "UPDATE authors SET status = 'banned',"
        " status_reason = (SELECT b.reason FROM bans b WHERE b.site_id = authors.site_id"
        " AND b.author_key = authors.author_key),"
        " status_changed_at = (SELECT b.created_at FROM bans b WHERE b.site_id = authors.site_id"
        " AND b.author_key = authors.author_key)"
        " WHERE EXISTS (SELECT 1 FROM bans b WHERE b.site_id = authors.site_id AND b.author_key = authors.author_key)"
    )
    op.drop_table("bans")
    op.create_index("ix_comments_author_id", "comments", ["author_id", "id"], unique=False)
    op.create_index("ix_comments_author_id_status", "comments", ["author_id", "status"], unique=False)


def downgrade():
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
    op.execute(
        "INSERT INTO bans (site_id, author_key, reason, created_at)"
        " SELECT site_id, author_key, status_reason, coalesce(status_changed_at, first_seen_at)"
        " FROM authors WHERE status = 'banned'"
    )
    op.drop_index("ix_comments_author_id_status", table_name="comments")
    op.drop_index("ix_comments_author_id", table_name="comments")
    op.drop_column("comments", "author_verified")
    op.drop_column("comments", "author_badges")
    op.drop_column("comments", "author_id")
    op.drop_table("revoked_sso_tokens")
    op.drop_table("sso_secrets")
    op.drop_table("author_names")
    op.drop_index("ix_authors_site_status", table_name="authors")
    op.drop_table("authors")
