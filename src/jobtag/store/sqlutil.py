"""Portable bulk SQL helpers: dialect upserts, chunked IN-lists, the tag-id cache, error mapping."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from jobtag.errors import DatabaseUnavailable, StoreError
from jobtag.store import schema as S

T = TypeVar("T")

IN_CHUNK = 900  # below SQLite's oldest bound-parameter limit (999)


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """Insert `rows` (executemany); rows whose unique `keys` exist get `update` columns set (or are
    left alone when `update` is empty). INSERT … ON CONFLICT on SQLite/PostgreSQL,
    INSERT … ON DUPLICATE KEY UPDATE on MariaDB/MySQL."""
    if not rows:
        return
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        ins = sqlite.insert(table) if name == "sqlite" else postgresql.insert(table)
        if update:
            stmt = ins.on_conflict_do_update(
                index_elements=list(keys), set_={c: ins.excluded[c] for c in update}
            )
        else:
            stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
    elif name in ("mysql", "mariadb"):
        ins = mysql.insert(table)
        cols = update or [keys[0]]  # key = key: a no-op that still swallows the duplicate
        stmt = ins.on_duplicate_key_update(
            {c: (ins.inserted[c] if update else table.c[c]) for c in cols}
        )
    else:  # a backend without upsert syntax: insert what is missing, then update the rest
        _generic_upsert(conn, table, rows, keys, update)
        return
    conn.execute(stmt, rows)


def upsert_features(conn: sa.Connection, items: dict[str, bytes], version: str) -> None:
    """Feature blobs by content hash for a featurizer `version`, in the caller's transaction (a
    blob already stored under the same key is replaced, so duplicates are harmless)."""
    if not items:
        return
    now = S.utcnow()
    rows = [
        {"content_hash": h, "version": version, "data": bytes(b), "created_at": now}
        for h, b in items.items()
    ]
    for start in range(0, len(rows), 500):
        upsert(conn, S.feature_cache, rows[start : start + 500],
               ["content_hash", "version"], ["data", "created_at"])  # fmt: skip


def _generic_upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    for row in rows:
        cond = sa.and_(*(table.c[k] == row[k] for k in keys))
        if conn.execute(sa.select(sa.literal(1)).select_from(table).where(cond)).first():
            if update:
                conn.execute(table.update().where(cond).values({c: row[c] for c in update}))
        else:
            conn.execute(table.insert().values(row))


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays (via tolist), paths and sets become JSON; anything else is an error."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON: {value!r}")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_jsonable)


def loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


class TagCache:
    """Tag name → id, filled lazily; ids created in a transaction join the cache only after commit."""

    def __init__(self) -> None:
        self.known: dict[str, int] = {}

    def resolve(
        self, conn: sa.Connection, names: Iterable[str], created: dict[str, int]
    ) -> dict[str, int]:
        """Ids of `names`, creating missing tags; new ids are put in `created` (merge after commit)."""
        wanted = set(names)
        missing = sorted(n for n in wanted if n not in self.known and n not in created)
        if missing:
            t = S.tags
            found: dict[str, int] = {}
            for part in chunks(missing):
                found.update(
                    conn.execute(sa.select(t.c.name, t.c.id).where(t.c.name.in_(part))).all()
                )
            new = [n for n in missing if n not in found]
            if new:
                now = S.utcnow()
                upsert(conn, t, [{"name": n, "created_at": now} for n in new], ["name"])
                for part in chunks(new):
                    found.update(
                        conn.execute(sa.select(t.c.name, t.c.id).where(t.c.name.in_(part))).all()
                    )
            created.update(found)
        return {n: self.known[n] if n in self.known else created[n] for n in wanted}

    def load(self, conn: sa.Connection) -> None:
        self.known.update(conn.execute(sa.select(S.tags.c.name, S.tags.c.id)).all())


@contextlib.contextmanager
def transaction(engine: sa.Engine, what: str, tags: TagCache | None = None) -> Iterator[tuple]:
    """`engine.begin()` yielding (conn, created_tags); maps driver errors to jobtag errors.

    A lost or unreachable database → DatabaseUnavailable; other database errors → StoreError;
    both name `what`. Tag ids created inside join `tags` only once the transaction committed.
    """
    created: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            yield conn, created
    except sa.exc.OperationalError as exc:
        from jobtag.store.db import mask_url

        raise DatabaseUnavailable(
            f"database {mask_url(engine.url)} failed during {what}: {exc.orig}"
        ) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"database error during {what}: {getattr(exc, 'orig', exc)}") from exc
    if tags is not None:
        tags.known.update(created)
