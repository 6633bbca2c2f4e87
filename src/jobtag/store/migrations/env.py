"""Alembic environment: migrates the connection jobtag hands over (or the `-x url=...` database)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from jobtag.store.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise RuntimeError("give the database: alembic -x url=DATABASE_URL ...")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
