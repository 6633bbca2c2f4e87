"""sqlutil: chunks, upsert on every backend, the tag cache after commit, transaction errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobtag.errors import StoreError
from jobtag.store import schema as S
from jobtag.store.sqlutil import TagCache, chunks, transaction, upsert


def test_chunks_cover_everything_in_order():
    assert [list(c) for c in chunks(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([], 3)) == []


def test_upsert_inserts_updates_and_ignores(store):
    engine = store.engine
    t = S.tags
    with transaction(engine, "test") as (conn, _):
        upsert(conn, t, [{"name": "a", "created_at": S.utcnow()}], ["name"])
        upsert(conn, t, [{"name": "a", "created_at": S.utcnow()}], ["name"])  # a no-op
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(t.c.name == "a")).scalar() == 1


def test_tag_ids_join_the_cache_only_after_commit(store):
    cache = TagCache()
    with pytest.raises(StoreError), transaction(store.engine, "failing", cache) as (conn, created):
        cache.resolve(conn, ["x-new"], created)
        assert "x-new" in created and "x-new" not in cache.known
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert "x-new" not in cache.known  # rolled back: the id must not be remembered
    with transaction(store.engine, "ok", cache) as (conn, created):
        ids = cache.resolve(conn, ["x-new"], created)
    assert cache.known["x-new"] == ids["x-new"]


def test_transaction_names_what_failed(store):
    with (
        pytest.raises(StoreError, match="importing rows"),
        transaction(store.engine, "importing rows") as (conn, _),
    ):
        conn.execute(sa.text("SELECT * FROM no_such_table"))
