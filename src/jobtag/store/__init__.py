"""The SQL job store: `JobStore(url)` imports, reads and records everything jobtag keeps."""

from jobtag.store.importer import ImportResult
from jobtag.store.jobstore import JobStore
from jobtag.store.lock import LockHandle
from jobtag.store.loop import SeenJob, UpdateRun
from jobtag.store.registry import ModelVersion

__all__ = ["ImportResult", "JobStore", "LockHandle", "ModelVersion", "SeenJob", "UpdateRun"]
