"""API tokens of the HTTP service (hashed secrets with a name and a scope).

Revision ID: 0003_tokens
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobtag.store.schema import TABLE_KWARGS, timestamp

revision = "0003_tokens"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(255), primary_key=True, autoincrement=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
        **TABLE_KWARGS,
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
