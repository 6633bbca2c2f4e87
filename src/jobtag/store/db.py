"""Opening a database by URL: engine set-up per backend, clear errors, migration to the latest schema."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from jobtag.errors import DatabaseUnavailable, StoreError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 7_401_992_113  # PostgreSQL advisory-lock key of jobtag migrations
_ALEMBIC_LOCK = threading.Lock()


def mask_url(url: str | sa.URL) -> str:
    """The URL as it may be shown to a user: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given, minus anything after '@'
        text = str(url)
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return text


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create_engine(url: str) -> sa.Engine:
    """An engine for `url` (SQLite: folder created, WAL journal, foreign keys on; servers: pre-ping).

    Raises DatabaseUnavailable for a malformed URL or a missing driver, naming the (masked) URL.
    """
    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseUnavailable(f"invalid database URL {shown!r}: {exc}") from exc
    kwargs: dict = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot create the folder of {shown}: {exc}") from exc
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.drivername in ("mysql", "mariadb"):  # the default driver (MySQLdb) is not ours
            parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
        if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseUnavailable(f"cannot use database URL {shown!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _enable_wal(conn: sa.Connection, attempts: int = 100) -> None:
    """Switch an SQLite file to WAL; the switch fails at once (no busy wait) while another
    connection opens the same new file, so it is retried for a few seconds."""
    for attempt in range(attempts):
        try:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            return
        except sa.exc.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def check_connection(engine: sa.Engine) -> None:
    """Connect once; a dead server, wrong credentials or an unopenable file → DatabaseUnavailable."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                _enable_wal(conn)
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        raise DatabaseUnavailable(
            f"cannot open database {mask_url(engine.url)}: {str(orig).strip().splitlines()[0]}"
        ) from exc


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _serialize_migrations(conn: sa.Connection) -> None:
    """Make concurrent first opens wait for each other (DDL is not transactional everywhere)."""
    name = conn.dialect.name
    if name == "sqlite":  # take the write lock now: DDL then runs inside this transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    elif name in ("mysql", "mariadb"):
        got = conn.exec_driver_sql("SELECT GET_LOCK('jobtag_migrate', 120)").scalar()
        if got != 1:
            raise StoreError("timed out waiting for another process to migrate the database")


def migrate(engine: sa.Engine) -> None:
    """Upgrade the database to the newest schema (no-op when already there).

    Migrations are serialized across processes (SQLite write lock, PostgreSQL advisory lock,
    MariaDB GET_LOCK): whoever comes second finds the schema at head and does nothing."""
    head = head_revision()
    try:
        if current_revision(engine) == head:
            return
        # Alembic keeps its migration context in module globals: one migration per process at once.
        with _ALEMBIC_LOCK, engine.begin() as conn:
            _serialize_migrations(conn)
            try:
                if MigrationContext.configure(conn).get_current_revision() != head:
                    log.info("migrating %s to schema %s", mask_url(engine.url), head)
                    command.upgrade(alembic_config(conn), "head")
            finally:
                if conn.dialect.name in ("mysql", "mariadb"):
                    conn.exec_driver_sql("SELECT RELEASE_LOCK('jobtag_migrate')")
    except sa.exc.SQLAlchemyError as exc:
        if _migrated_meanwhile(engine, head):
            log.info("database %s was migrated by another process", mask_url(engine.url))
            return
        _raise_migration_error(engine, exc)


def _migrated_meanwhile(engine: sa.Engine, head: str | None) -> bool:
    try:
        return current_revision(engine) == head
    except sa.exc.SQLAlchemyError:
        return False


def _raise_migration_error(engine: sa.Engine, exc: sa.exc.SQLAlchemyError) -> None:
    shown = mask_url(engine.url)
    if isinstance(exc, sa.exc.OperationalError):
        raise DatabaseUnavailable(f"cannot migrate database {shown}: {exc}") from exc
    raise StoreError(f"migrating database {shown} failed: {exc}") from exc


def open_database(url: str) -> sa.Engine:
    """Engine for `url`, reachable and migrated to the latest schema."""
    engine = create_engine(url)
    try:
        check_connection(engine)
        migrate(engine)
    except Exception:
        engine.dispose()
        raise
    return engine
