"""The update lock: contention between stores, stale holders (killed process, expired), heartbeat."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

from jobtag.errors import LockBusy
from jobtag.store import JobStore
from jobtag.store import schema as S

HOLD = """
import sys, time
from jobtag.store import JobStore
store = JobStore(sys.argv[1])
with store.update_lock("child-updater"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _plant(store: JobStore, hostname: str, pid: int, expires_in_s: float) -> None:
    now = S.utcnow()
    with store.engine.begin() as conn:
        conn.execute(S.locks.insert().values(
            name="update", token="t0", owner="ghost", pid=pid, hostname=hostname,
            acquired_at=now, expires_at=now + dt.timedelta(seconds=expires_in_s),
        ))  # fmt: skip


def test_two_stores_contend(db_url):
    a, b = JobStore(db_url), JobStore(db_url)
    try:
        with (
            a.update_lock("updater-a"),
            pytest.raises(LockBusy, match=rf"held by updater-a \(pid {os.getpid()} on "),
            b.update_lock("updater-b"),
        ):
            pass
        with b.update_lock("updater-b") as handle:
            assert handle.refresh()
            with pytest.raises(LockBusy, match="updater-b"), a.update_lock("updater-a"):
                pass
        with a.update_lock("updater-a"):  # released again
            pass
    finally:
        a.close()
        b.close()


def test_lock_of_a_killed_process_is_taken_over(db_url):
    JobStore(db_url).close()  # migrate before the child starts
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        store = JobStore(db_url)
        with pytest.raises(LockBusy, match="child-updater"), store.update_lock("me"):
            pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        with store.update_lock("me", heartbeat=False), store.engine.connect() as conn:
            assert conn.execute(S.locks.select()).one().owner == "me"
        store.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_expired_lock_elsewhere_is_taken_over_live_one_is_not(store):
    _plant(store, "other-host", 1, expires_in_s=-5)
    with store.update_lock("me"):
        pass
    _plant(store, "other-host", 1, expires_in_s=300)
    with (
        pytest.raises(LockBusy, match=r"held by ghost \(pid 1 on other-host"),
        store.update_lock("me"),
    ):
        pass


def test_heartbeat_keeps_a_short_lock_alive(db_url):
    a, b = JobStore(db_url), JobStore(db_url)
    try:
        with a.update_lock("slow-updater", ttl_s=0.3):
            time.sleep(0.7)  # two expiries, refreshed every 0.1 s
            with pytest.raises(LockBusy, match="slow-updater"), b.update_lock("other"):
                pass
    finally:
        a.close()
        b.close()
