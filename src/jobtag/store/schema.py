"""The job store's tables (SQLAlchemy Core), portable across SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Length limits of indexed / short text columns (MariaDB needs lengths on indexed VARCHARs).
ID_LEN = 255  # source job id, company id
NAME_LEN = 255  # tag names, who, owner, host names
SOURCE_LEN = 64  # where a row came from: "import", "predict", "feedback", a file name is cut
HASH_LEN = 64  # content hashes (blake2b-128 hex is 32)
VERSION_LEN = 64  # featurizer versions
PATH_LEN = 1024

# Tag-link origins.
IMPORTED = "imported"
HUMAN = "human"
MODEL = "model"
ORIGINS = (IMPORTED, HUMAN, MODEL)

# Model-version statuses.
CANDIDATE = "candidate"
ACTIVE = "active"
RETIRED = "retired"
MODEL_STATUSES = (CANDIDATE, ACTIVE, RETIRED)

# MariaDB: utf8mb4 and a binary collation so ids/tag names compare exactly (case, trailing spaces).
TABLE_KWARGS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def long_text() -> sa.types.TypeEngine:
    """Unbounded text (descriptions up to megabytes): TEXT, or LONGTEXT on MariaDB/MySQL."""
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def long_blob() -> sa.types.TypeEngine:
    """Unbounded bytes: BLOB/BYTEA, or LONGBLOB on MariaDB/MySQL (BLOB there stops at 64 KB)."""
    return sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def timestamp() -> sa.types.TypeEngine:
    """A naive UTC timestamp with microseconds (MariaDB's DATETIME defaults to whole seconds)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime every timestamp column holds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_job_id", sa.String(ID_LEN), nullable=False),
    sa.Column("title", long_text(), nullable=False),
    sa.Column("description", long_text(), nullable=False),
    sa.Column("company_id", sa.String(ID_LEN)),
    sa.Column("company_name", sa.Text()),
    sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("source", sa.String(SOURCE_LEN), nullable=False),
    sa.Column("added_at", timestamp(), nullable=False),
    sa.Column("updated_at", timestamp(), nullable=False),
    # Set when a human correction is the job's truth (even an empty corrected tag set).
    sa.Column("corrected_at", timestamp()),
    sa.UniqueConstraint("source_job_id", name="uq_jobs_source_job_id"),
    sa.Index("ix_jobs_content_hash", "content_hash"),
    **TABLE_KWARGS,
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_LEN), nullable=False),
    sa.Column("created_at", timestamp(), nullable=False),
    sa.UniqueConstraint("name", name="uq_tags_name"),
    **TABLE_KWARGS,
)

job_tags = sa.Table(
    "job_tags",
    metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("who", sa.String(NAME_LEN)),
    sa.Column("source", sa.String(SOURCE_LEN), nullable=False),
    sa.Column("created_at", timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("job_id", "tag_id", "origin", name="pk_job_tags"),
    sa.Index("ix_job_tags_tag_origin", "tag_id", "origin"),
    **TABLE_KWARGS,
)

# Every human correction ever made (the truth is the latest per job); never deleted.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tags", sa.Text(), nullable=False),  # JSON list of tag names
    sa.Column("who", sa.String(NAME_LEN)),
    sa.Column("source", sa.String(SOURCE_LEN), nullable=False),
    sa.Column("created_at", timestamp(), nullable=False),
    sa.Index("ix_feedback_job", "job_id"),
    **TABLE_KWARGS,
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("predicted", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(SOURCE_LEN), nullable=False),
    sa.Column("created_at", timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("job_id", "model_version", "tag_id", name="pk_predictions"),
    **TABLE_KWARGS,
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("path", sa.String(PATH_LEN), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("metrics", sa.Text(), nullable=False),  # JSON object
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("created_at", timestamp(), nullable=False),
    sa.Column("promoted_at", timestamp()),  # last activation; cleared when rolled back
    **TABLE_KWARGS,
)

update_runs = sa.Table(
    "update_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", timestamp(), nullable=False),
    sa.Column("finished_at", timestamp()),
    sa.Column("status", sa.String(16), nullable=False),  # running | done | failed | aborted
    sa.Column("last_job_id", sa.Integer, nullable=False),  # jobs.id watermark when it started
    sa.Column("jobs_used", sa.Integer, nullable=False),
    sa.Column("labels", sa.Integer, nullable=False),
    sa.Column("pseudo_labels", sa.Integer, nullable=False),
    sa.Column("metrics_before", sa.Text(), nullable=False),  # JSON
    sa.Column("metrics_after", sa.Text(), nullable=False),  # JSON
    sa.Column("model_version", sa.Integer),
    sa.Column("promoted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    **TABLE_KWARGS,
)

feature_cache = sa.Table(
    "feature_cache",
    metadata,
    sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("version", sa.String(VERSION_LEN), nullable=False),
    sa.Column("data", long_blob(), nullable=False),
    sa.Column("created_at", timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("content_hash", "version", name="pk_feature_cache"),
    **TABLE_KWARGS,
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(SOURCE_LEN), primary_key=True, autoincrement=False),
    sa.Column("token", sa.String(HASH_LEN), nullable=False),
    sa.Column("owner", sa.String(NAME_LEN), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("hostname", sa.String(NAME_LEN), nullable=False),
    sa.Column("acquired_at", timestamp(), nullable=False),
    sa.Column("expires_at", timestamp(), nullable=False),
    **TABLE_KWARGS,
)

# the columns of `jobs` that make a records.Job (readers of jobs select these)
JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.source_job_id,
    jobs.c.title,
    jobs.c.description,
    jobs.c.company_id,
    jobs.c.company_name,
    jobs.c.content_hash,
    jobs.c.corrected_at,
)
