"""torch_threads: the thread count inside, the caller's restored after (also on error); scoring uses it."""

from __future__ import annotations

import pytest
import torch

from jobtag.models import threads
from jobtag.models.threads import torch_threads


def test_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(before + 1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(0):  # never below one thread
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_tagmodel_scores_with_the_models_thread_count(monkeypatch):
    from jobtag.training.fit import train_model
    from tests.models.synthetic import FS, make_jobs, tiny_settings

    batch, labels = make_jobs(60, seed=4)
    model = train_model(batch, labels, tiny_settings(threads=1), FS, progress=False)
    seen: list[int] = []
    real = threads.torch_threads

    def spy(n: int):
        seen.append(n)
        return real(n)

    monkeypatch.setattr("jobtag.models.tagmodel.torch_threads", spy)
    orig = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model.scores(batch[:3])
        assert seen == [1]
        assert torch.get_num_threads() == 2  # the caller's count is back
    finally:
        torch.set_num_threads(orig)
