"""The service's engine room: concurrent predictions batched into one pass and one transaction,
and at most one background model update at a time, started by the server itself."""

from __future__ import annotations

import asyncio
import gc
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jobtag.app import Prediction, Tagger
from jobtag.config import Settings
from jobtag.errors import JobtagError, LockBusy
from jobtag.models.threads import torch_threads
from jobtag.records import Job

log = logging.getLogger(__name__)


class BackgroundUpdates:
    """Runs a due model update in one background thread: never two at once, never per request.

    `poke()` is cheap to call often: it looks at the store at most every `min_interval` seconds
    and only while no update runs. The update uses its own Tagger (own connections), so
    predictions keep using the current model until the new one is promoted."""

    def __init__(self, settings: Settings, min_interval: float = 1.0) -> None:
        self.settings = settings
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_check = 0.0
        self.started = 0  # updates started by this server (for tests and /health)
        self.failed = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _due(self, tagger: Tagger) -> bool:
        from jobtag.updating import update_due

        return update_due(tagger) is not None

    def poke(self, tagger: Tagger) -> bool:
        """Start an update when one is due and none runs; True when this call started it."""
        if not self.settings.update.auto:
            return False
        with self._lock:
            now = time.monotonic()
            if self.running or now - self._last_check < self.min_interval:
                return False
            self._last_check = now
            try:
                if not self._due(tagger):
                    return False
            except JobtagError as exc:
                log.warning("cannot tell whether an update is due: %s", exc)
                return False
            self._thread = threading.Thread(target=self._run, name="jobtag-update", daemon=True)
            self.started += 1
            self._thread.start()
            log.info("background model update started")
            return True

    def _run(self) -> None:
        from jobtag.updating import maybe_update

        try:
            with Tagger(self.settings) as own:
                result = maybe_update(own, progress=False)
            if result is not None:
                log.info("background update: %s", result.summary())
        except JobtagError as exc:
            self.failed += 1
            log.warning("background update failed: %s", exc)
        except Exception:
            self.failed += 1
            log.exception("background update crashed")

    def run_now(self) -> Any:
        """Run an update in the caller's thread (POST /update); LockBusy while one runs here."""
        from jobtag.updating import run_update

        with self._lock:
            if self.running:
                raise LockBusy("a background model update is running: try again when it is done")
            self._last_check = time.monotonic()
        with Tagger(self.settings) as own:
            return run_update(own, progress=False)

    def join(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)


@dataclass
class _Request:
    jobs: list[Job]
    record: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)
    explain: bool = False


class PredictionBatcher:
    """One worker thread owns the Tagger: requests that arrive while it works are merged into
    the next batch (one featurization, one model pass, one transaction for their records).

    The model scores with `torch_threads` intra-op threads (default 1): the event loop that
    parses requests and answers them needs a core too, and torch's second thread, spinning
    after each operation, took it (2 cores under load ~4: ~85 recorded req/s instead of ~450)."""

    def __init__(
        self,
        tagger: Tagger,
        updates: BackgroundUpdates | None = None,
        max_jobs: int = 1_000,
        source: str = "http",
        torch_threads: int = 1,
    ) -> None:
        self.tagger = tagger
        self.updates = updates
        self.max_jobs = max_jobs
        self.source = source
        self.torch_threads = max(1, torch_threads)
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0  # batches run (for tests and benchmarks)
        self.warmed_version: int | None = None  # the model version loaded at start-up

    def start(self, warm_up: bool = True, freeze_heap: bool = False) -> None:
        """Start the worker; with `warm_up` it first loads the active model and scores a made-up
        job (nothing is stored), and this call returns once that is done, so the first requests
        do not wait for it. `freeze_heap` then moves what is alive into the collector's
        permanent generation (`gc.freeze`): the full collections of a long-running server stop
        walking the start-up heap (torch, SQLAlchemy, the model), hundreds of ms each here."""
        ready = threading.Event()
        args = (warm_up, freeze_heap, ready)
        self._thread = threading.Thread(
            target=self._work, args=args, name="jobtag-predict", daemon=True
        )
        self._thread.start()
        ready.wait()

    def _warm_up(self, freeze_heap: bool) -> None:
        try:
            self.warmed_version = self.tagger.warm_up()
        except JobtagError as exc:  # requests get the error; the service still starts
            log.warning("the model could not be loaded at start-up: %s", exc)
        except Exception:  # noqa: BLE001 - the worker must live on to answer requests
            log.exception("warming the model up failed")
        if freeze_heap:
            gc.collect()
            gc.freeze()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)
            self._thread = None

    async def predict(
        self, jobs: Sequence[Job], record: bool, explain: bool = False
    ) -> tuple[list[Prediction], bool]:
        """Predictions for `jobs` (recorded when `record`, with the words behind each tag when
        `explain`) and whether an update was started."""
        loop = asyncio.get_running_loop()
        req = _Request(list(jobs), record, loop, loop.create_future(), explain)
        self._queue.put(req)
        return await req.future

    def _take(self) -> list[_Request] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch, n = [first], len(first.jobs)
        while n < self.max_jobs:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(nxt)
            n += len(nxt.jobs)
        return batch

    def _work(self, warm_up: bool, freeze_heap: bool, ready: threading.Event) -> None:
        # the worker thread's own count (with OpenMP it is per thread): for the whole batch,
        # featurization, scoring, explanations and recording alike
        with torch_threads(self.torch_threads):
            self._serve(warm_up, freeze_heap, ready)

    def _serve(self, warm_up: bool, freeze_heap: bool, ready: threading.Event) -> None:
        try:
            if warm_up:
                self._warm_up(freeze_heap)
        finally:
            ready.set()
        while (batch := self._take()) is not None:
            self.batches += 1
            try:
                results = self._run(batch)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
                if len(batch) == 1:
                    results = [exc]
                else:  # find the request at fault: run them one by one
                    results = []
                    for req in batch:
                        try:
                            results.append(self._run([req])[0])
                        except Exception as one:  # noqa: BLE001 - handed to its request
                            results.append(one)
            for req, res in zip(batch, results, strict=True):
                _resolve(req, res)

    def _run(self, batch: list[_Request]) -> list[tuple[list[Prediction], bool]]:
        out: dict[int, list[Prediction]] = {}
        for record, explain in ((True, False), (False, False), (True, True), (False, True)):
            group = [r for r in batch if r.record == record and r.explain == explain]
            if not group:
                continue
            jobs = [j for r in group for j in r.jobs]
            preds = self.tagger.predict(jobs, record=record, source=self.source, explain=explain)
            start = 0
            for r in group:
                out[id(r)] = preds[start : start + len(r.jobs)]
                start += len(r.jobs)
        started = False
        if self.updates is not None and any(r.record for r in batch):
            started = self.updates.poke(self.tagger)
        first_recording = next((id(r) for r in batch if r.record), None)
        return [(out[id(r)], started and id(r) == first_recording) for r in batch]


def _resolve(req: _Request, result: Any) -> None:
    def settle() -> None:
        if req.future.done():  # the client went away
            return
        if isinstance(result, BaseException):
            req.future.set_exception(result)
        else:
            req.future.set_result(result)

    req.loop.call_soon_threadsafe(settle)
