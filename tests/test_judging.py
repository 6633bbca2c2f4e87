"""How updates are judged: the stable judge slice, the paired judgement and its noise, and
micro-F1 that counts unknown tags as misses."""

from __future__ import annotations

import numpy as np

from jobtag.judging import in_judge, judge, micro_f1_all_tags


def test_paired_judgement_and_its_noise():
    rng = np.random.default_rng(0)
    y = rng.random((200, 5)) < 0.3
    same = judge(y, y, y)
    assert same.diff == 0 and same.se == 0 and same.before == 1.0
    noisy = y ^ (rng.random(y.shape) < 0.2)
    worse = judge(y, y, noisy)
    assert worse.diff < -0.1 and 0 < worse.se < abs(worse.diff)
    few = judge(y[:10], y[:10], noisy[:10])
    assert few.se > worse.se  # ten jobs are a noisier judge than two hundred
    assert 0.2 < np.mean([in_judge(f"job-{i}", 0.3) for i in range(5000)]) < 0.4


def test_judge_slice_is_stable_per_job():
    ids = [f"job-{i}" for i in range(200)]
    first = [in_judge(j, 0.3) for j in ids]
    assert first == [in_judge(j, 0.3) for j in ids]  # the same job is always judge or learner
    assert not any(in_judge(j, 0.0) for j in ids) and all(in_judge(j, 1.0) for j in ids)


class _FixedModel:
    """Decides tag "a" for every job; knows tags a and b."""

    tags = ["a", "b"]

    def scores(self, batch):
        return np.tile(np.array([[0.9, 0.1]]), (len(batch), 1))

    def decide(self, scores):
        return scores >= 0.5


def test_micro_f1_counts_tags_the_model_does_not_know_as_misses():
    truth = [frozenset({"a"}), frozenset({"a", "c"})]  # "c" is unknown to the model
    # tp 2 (a, a), fp 0, fn 1 (c): 2*2 / (2*2 + 0 + 1)
    assert micro_f1_all_tags(_FixedModel(), [0, 1], truth) == 4 / 5
    truth = [frozenset({"b"}), None]  # a wrong claim, and a job with no tags
    assert micro_f1_all_tags(_FixedModel(), [0, 1], truth) == 0.0
