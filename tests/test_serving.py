"""The service's engine room: the prediction worker's start-up (warm-up) and its torch threads."""

from __future__ import annotations

import asyncio

import pytest
import torch

from jobtag.errors import ModelError
from jobtag.records import make_job
from jobtag.serving import PredictionBatcher


class FakeTagger:
    """Records what the worker asked for and in which torch setting."""

    def __init__(self, warm: Exception | int | None = 7) -> None:
        self.warm, self.calls, self.threads = warm, [], []

    def warm_up(self) -> int | None:
        self.threads.append(torch.get_num_threads())
        if isinstance(self.warm, Exception):
            raise self.warm
        return self.warm

    def predict(self, jobs, record, source, explain):  # noqa: ANN001
        self.threads.append(torch.get_num_threads())
        self.calls.append((len(jobs), record))
        return [f"p-{j.job_id}" for j in jobs]


def _predict(batcher: PredictionBatcher, n: int) -> list:
    async def go() -> list:
        jobs = [make_job(f"Python developer {i}", "", f"s-{i}") for i in range(n)]
        return [await batcher.predict(jobs, record=True)]

    return asyncio.run(go())


@pytest.fixture
def two_threads():
    """torch set to 2 intra-op threads in this thread (new threads inherit it), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_worker_warms_up_before_start_returns_and_scores_with_one_thread(two_threads):
    tagger = FakeTagger(warm=7)
    batcher = PredictionBatcher(tagger)  # type: ignore[arg-type]
    batcher.start()
    try:
        assert batcher.warmed_version == 7 and tagger.calls == []  # warmed, nothing predicted
        ((preds, started),) = _predict(batcher, 3)
        assert preds == ["p-s-0", "p-s-1", "p-s-2"] and not started
    finally:
        batcher.stop()
    assert tagger.threads == [1, 1]  # warm-up and the batch: one intra-op thread, not 2
    assert torch.get_num_threads() == 2  # the caller's own setting is untouched


def test_a_model_that_cannot_load_at_start_up_leaves_the_worker_serving(caplog):
    tagger = FakeTagger(warm=ModelError("model.json checksum mismatch"))
    batcher = PredictionBatcher(tagger, torch_threads=2)  # type: ignore[arg-type]
    batcher.start()
    try:
        assert batcher.warmed_version is None
        ((preds, _),) = _predict(batcher, 1)
        assert preds == ["p-s-0"]
    finally:
        batcher.stop()
    assert "could not be loaded at start-up" in caplog.text
    assert tagger.threads[-1] == 2


def test_without_warm_up_nothing_is_loaded_before_the_first_request():
    tagger = FakeTagger()
    batcher = PredictionBatcher(tagger)  # type: ignore[arg-type]
    batcher.start(warm_up=False)
    try:
        assert batcher.warmed_version is None and tagger.threads == []
    finally:
        batcher.stop()
