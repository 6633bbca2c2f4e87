"""The update lock: one row in `locks` (unique name), portable to SQLite, PostgreSQL and MariaDB.

Acquire = INSERT the row; a unique-key violation means someone holds it. A holder whose expiry has
passed, or whose process no longer exists on this same host (killed with -9), is stale: the lock is
taken over with a compare-and-swap UPDATE on the holder's token, so two contenders never both win.
While held, a heartbeat thread pushes the expiry forward; release deletes the row (by token).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from jobtag.errors import LockBusy, StoreError
from jobtag.store import schema as S
from jobtag.store.sqlutil import transaction

log = logging.getLogger(__name__)

UPDATE_LOCK = "update"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclass
class LockHandle:
    """A held lock; `refresh()` pushes its expiry `ttl_s` seconds ahead (the heartbeat does too)."""

    name: str
    token: str
    owner: str
    ttl_s: float
    engine: sa.Engine

    def refresh(self) -> bool:
        """Extend the expiry; False when the lock was lost (taken over as stale)."""
        lk = S.locks
        expires = S.utcnow() + dt.timedelta(seconds=self.ttl_s)
        with transaction(self.engine, f"refreshing lock {self.name!r}") as (conn, _):
            res = conn.execute(
                lk.update()
                .where(lk.c.name == self.name, lk.c.token == self.token)
                .values(expires_at=expires)
            )
            return res.rowcount == 1


def _describe(row: Any) -> str:
    return (
        f"{row.owner} (pid {row.pid} on {row.hostname}, since {row.acquired_at:%Y-%m-%d %H:%M:%S} "
        f"UTC, expires {row.expires_at:%H:%M:%S})"
    )


def _stale(row: Any, now: dt.datetime) -> str:
    if row.expires_at < now:
        return "expired"
    if row.hostname == socket.gethostname() and not pid_alive(int(row.pid)):
        return f"process {row.pid} is gone"
    return ""


def acquire(
    engine: sa.Engine, owner: str, name: str = UPDATE_LOCK, ttl_s: float = 600.0
) -> LockHandle:
    """Take lock `name` for `owner` or raise LockBusy naming the holder."""
    lk = S.locks
    token = uuid.uuid4().hex
    now = S.utcnow()
    row = {
        "name": name,
        "token": token,
        "owner": owner[: S.NAME_LEN],
        "pid": os.getpid(),
        "hostname": socket.gethostname()[: S.NAME_LEN],
        "acquired_at": now,
        "expires_at": now + dt.timedelta(seconds=ttl_s),
    }
    handle = LockHandle(name, token, owner, ttl_s, engine)
    try:
        with transaction(engine, f"taking lock {name!r}") as (conn, _):
            conn.execute(lk.insert().values(row))
        return handle
    except StoreError as exc:
        if not isinstance(exc.__cause__, sa.exc.IntegrityError):
            raise  # DatabaseUnavailable (a subclass) and real failures go up; a duplicate = held
    with transaction(engine, f"taking lock {name!r}") as (conn, _):
        holder = conn.execute(sa.select(lk).where(lk.c.name == name)).first()
        if holder is None:  # released meanwhile: try once more
            conn.execute(lk.insert().values(row))
            return handle
        why = _stale(holder, now)
        if not why:
            raise LockBusy(f"the {name} lock is held by {_describe(holder)}")
        took = conn.execute(
            lk.update().where(lk.c.name == name, lk.c.token == holder.token).values(row)
        )
        if took.rowcount != 1:
            raise LockBusy(f"the {name} lock was just taken over by another process")
    log.warning("took over stale %s lock of %s: %s", name, _describe(holder), why)
    return handle


def release(handle: LockHandle) -> None:
    lk = S.locks
    with transaction(handle.engine, f"releasing lock {handle.name!r}") as (conn, _):
        conn.execute(lk.delete().where(lk.c.name == handle.name, lk.c.token == handle.token))


class _Heartbeat(threading.Thread):
    def __init__(self, handle: LockHandle, every_s: float) -> None:
        super().__init__(name=f"jobtag-lock-{handle.name}", daemon=True)
        self.handle, self.every_s, self.stop = handle, every_s, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                if not self.handle.refresh():
                    log.error("lost the %s lock (taken over as stale)", self.handle.name)
                    return
            except Exception as exc:  # noqa: BLE001 - keep beating; the expiry is the safety net
                log.warning("could not refresh the %s lock: %s", self.handle.name, exc)


class LockMixin:
    """`update_lock` for JobStore (needs `engine`)."""

    engine: sa.Engine

    @contextlib.contextmanager
    def update_lock(
        self, owner: str, ttl_s: float = 600.0, name: str = UPDATE_LOCK, heartbeat: bool = True
    ) -> Iterator[LockHandle]:
        """Hold the update lock for the `with` block; LockBusy (naming the holder) when taken.

        The lock expires `ttl_s` seconds after the last heartbeat (every ttl_s/3 while held), so a
        crashed holder on another machine blocks at most `ttl_s`; one on this machine is detected
        at once by its missing process."""
        handle = acquire(self.engine, owner, name, ttl_s)
        beat = _Heartbeat(handle, ttl_s / 3) if heartbeat else None
        if beat is not None:
            beat.start()
        try:
            yield handle
        finally:
            if beat is not None:
                beat.stop.set()
                beat.join()
            release(handle)
