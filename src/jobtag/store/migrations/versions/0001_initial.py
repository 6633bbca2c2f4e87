"""Initial job store: jobs, tags, links, feedback, predictions, models, update runs, cache, locks.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobtag.store.schema import TABLE_KWARGS, long_blob, long_text, timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_job_id", sa.String(255), nullable=False),
        sa.Column("title", long_text(), nullable=False),
        sa.Column("description", long_text(), nullable=False),
        sa.Column("company_id", sa.String(255)),
        sa.Column("company_name", sa.Text()),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("added_at", timestamp(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.Column("corrected_at", timestamp()),
        sa.UniqueConstraint("source_job_id", name="uq_jobs_source_job_id"),
        **TABLE_KWARGS,
    )
    op.create_index("ix_jobs_content_hash", "jobs", ["content_hash"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.UniqueConstraint("name", name="uq_tags_name"),
        **TABLE_KWARGS,
    )
    op.create_table(
        "job_tags",
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("who", sa.String(255)),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "tag_id", "origin", name="pk_job_tags"),
        **TABLE_KWARGS,
    )
    op.create_index("ix_job_tags_tag_origin", "job_tags", ["tag_id", "origin"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("who", sa.String(255)),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        **TABLE_KWARGS,
    )
    op.create_index("ix_feedback_job", "feedback", ["job_id"])
    op.create_table(
        "predictions",
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column(
            "tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("predicted", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "model_version", "tag_id", name="pk_predictions"),
        **TABLE_KWARGS,
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("promoted_at", timestamp()),
        **TABLE_KWARGS,
    )
    op.create_table(
        "update_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", timestamp(), nullable=False),
        sa.Column("finished_at", timestamp()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_job_id", sa.Integer, nullable=False),
        sa.Column("jobs_used", sa.Integer, nullable=False),
        sa.Column("labels", sa.Integer, nullable=False),
        sa.Column("pseudo_labels", sa.Integer, nullable=False),
        sa.Column("metrics_before", sa.Text(), nullable=False),
        sa.Column("metrics_after", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Integer),
        sa.Column("promoted", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        **TABLE_KWARGS,
    )
    op.create_table(
        "feature_cache",
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("data", long_blob(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("content_hash", "version", name="pk_feature_cache"),
        **TABLE_KWARGS,
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(64), primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("acquired_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=False),
        **TABLE_KWARGS,
    )


def downgrade() -> None:
    for name in (
        "locks",
        "feature_cache",
        "update_runs",
        "model_versions",
        "predictions",
        "feedback",
        "job_tags",
        "tags",
        "jobs",
    ):
        op.drop_table(name)
