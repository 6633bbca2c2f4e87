"""Smoke tests of the benchmark's peer wrappers, threshold helpers and data loader on tiny sets."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _data  # noqa: E402
import peers  # noqa: E402

from jobtag.errors import InputError  # noqa: E402

WORDS = {
    "python": "python django flask backend api developer pandas",
    "design": "photoshop figma illustrator creative visual designer",
    "sales": "customer targets clients negotiation revenue account",
}


def tiny_set(n_per_tag: int = 12, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Jobs whose words reveal their tags; every fourth job has two tags."""
    rng = np.random.default_rng(seed)
    tags = list(WORDS)
    texts, rows = [], []
    for i in range(n_per_tag * len(tags)):
        own = {tags[i % 3]} | ({tags[(i + 1) % 3]} if i % 4 == 0 else set())
        words = [w for t in own for w in rng.choice(WORDS[t].split(), 4).tolist()]
        words += rng.choice(["the", "job", "role", "team", "work", "office"], 3).tolist()
        rng.shuffle(words)
        texts.append(f"Job {i}\n" + " ".join(words))
        rows.append([t in own for t in tags])
    return texts, np.array(rows, dtype=bool)


def test_best_threshold_separates_and_handles_ties():
    t, f1 = peers.best_threshold(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]))
    assert 0.3 < t < 0.8 and f1 == pytest.approx(1.0)
    # tied scores fire together: no threshold can split them
    t, f1 = peers.best_threshold(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 0]))
    assert t <= 0.5 and f1 == pytest.approx(2 / 3)
    assert peers.best_threshold(np.array([0.2, 0.1]), np.array([0, 0]))[0] == np.inf


def test_choose_thresholds_falls_back_to_global_for_rare_tags():
    scores = np.array([[2.0, 0.9], [1.5, 0.2], [1.0, 0.1], [-1.0, 0.05], [-2.0, 0.0]])
    y = np.array([[1, 1], [1, 0], [1, 0], [0, 0], [0, 0]], dtype=bool)
    th = peers.choose_thresholds(scores, y, min_positives=3)
    assert -1.0 < th[0] < 1.0  # per-tag cut between positives and negatives
    glob, _ = peers.best_threshold(scores, y)
    assert th[1] == pytest.approx(glob)  # 1 positive < 3: the global threshold


def test_apply_thresholds_at_least_one():
    scores = np.array([[0.1, 0.2], [0.9, 0.1], [-np.inf, -np.inf]])
    th = np.array([0.5, 0.5])
    plain = peers.apply_thresholds(scores, th)
    assert plain.tolist() == [[False, False], [True, False], [False, False]]
    forced = peers.apply_thresholds(scores, th, at_least_one=True)
    assert forced.tolist() == [[False, True], [True, False], [False, False]]


@pytest.mark.parametrize("method", ["tfidf-svm", "hash-logreg", "fasttext"])
def test_peer_learns_tiny_set(method):
    if method == "fasttext":
        pytest.importorskip("fasttext")
    # fastText needs more than a handful of examples per tag to learn reliably
    texts, y = tiny_set(n_per_tag=60 if method == "fasttext" else 12)
    test_texts, y_test = tiny_set(n_per_tag=6, seed=1)
    y_extra = np.zeros((len(y), 1), dtype=bool)  # a tag no training job has: never predicted
    y_all = np.hstack([y, y_extra])
    fit_idx, val_idx = _data.validation_split(len(texts), 0.25, seed=3)
    try:
        tuned = peers.tune_and_fit(method, texts, y_all, fit_idx, val_idx, quick=True)
    except RuntimeError as exc:
        if method == "fasttext" and "NaN" in str(exc):
            pytest.skip(f"fastText 0.9 ova diverged on this run (known upstream fault): {exc}")
        raise
    scores = tuned.scores(test_texts)
    assert scores.shape == (len(test_texts), 4)
    assert np.isneginf(scores[:, 3]).all()
    pred = tuned.predict(test_texts)
    assert not pred[:, 3].any()
    # the tiny set is separable by its words; fastText is not deterministic even on one thread
    assert peers.micro_f1(y_test, pred[:, :3]) > (0.3 if method == "fasttext" else 0.6)
    assert tuned.choice.params in peers.grid(method, quick=True)
    assert len(tuned.choice.thresholds) == 4


def test_choice_json_round_trip_keeps_infinite_thresholds():
    choice = peers.Choice("tfidf-svm", {"C": 1.0}, np.array([0.5, np.inf]), 0.8, [{"C": 1.0}])
    back = peers.Choice.from_json({**json.loads(json.dumps(choice.to_json())), "tune_s": 1.0})
    assert back.params == {"C": 1.0} and back.val_micro_f1 == 0.8
    assert back.thresholds[0] == 0.5 and np.isposinf(back.thresholds[1])


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="nope"):
        peers.make_peer("nope", {})


def _write(path: Path, rows: list[str]) -> Path:
    header = "job_id,job_title,job_description,company_id,company_name,job_tag_id,job_tag_name\n"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(header + "".join(r + "\n" for r in rows))
    return path


def test_loader_aggregates_rows_and_unlabeled(tmp_path):
    rows = [
        '1,Dev,"multi\nline, desc",c1,Acme,10,Python',
        '1,Dev,"multi\nline, desc",c1,Acme,11,SQL',
        "2,Designer,draws,,,,",
        "3,Seller,sells,c2,Shop,12,Sales",
    ]
    folder = tmp_path / "tiny"
    folder.mkdir()
    _write(folder / "train.csv.gz", rows)
    _write(folder / "test.csv.gz", rows[3:])
    jobs = list(_data.iter_jobs(folder / "train.csv.gz"))
    assert [j.job_id for j in jobs] == ["1", "2", "3"]
    assert (
        jobs[0].tags == frozenset({"Python", "SQL"}) and jobs[0].description == "multi\nline, desc"
    )
    assert jobs[1].tags is None and jobs[1].company_id is None
    bench = _data.load_set(tmp_path, "tiny")
    assert len(bench.train) == 2 and len(bench.unlabeled) == 1 and len(bench.test) == 1
    assert bench.tags == ["Python", "SQL", "Sales"] and bench.test_tags() == ["Sales"]
    y = _data.label_matrix(bench.train, bench.tags)
    assert y.tolist() == [[True, True, False], [False, False, True]]


def test_loader_rejects_scattered_rows_and_missing_columns(tmp_path):
    bad = _write(tmp_path / "bad.csv.gz", ["1,a,b,,,1,X", "2,c,d,,,1,X", "1,a,b,,,2,Y"])
    with pytest.raises(InputError, match=r"bad\.csv\.gz:\d+: rows of job '1'"):
        list(_data.iter_jobs(bad))
    cols = tmp_path / "cols.csv.gz"
    with gzip.open(cols, "wt", encoding="utf-8") as fh:
        fh.write("job_id,title\n1,a\n")
    with pytest.raises(InputError, match="missing column"):
        list(_data.iter_jobs(cols))


def test_validation_split_is_seeded_and_disjoint():
    a = _data.validation_split(50, 0.1, seed=7)
    b = _data.validation_split(50, 0.1, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len(a[1]) == 5 and not set(a[0]) & set(a[1]) and len(a[0]) + len(a[1]) == 50


def test_score_restricts_macro_to_test_tags():
    import accuracy

    y = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    pred = np.array([[1, 0, 1], [0, 0, 0]], dtype=bool)
    micro, macro = accuracy.score(y, pred, [0, 1])
    assert micro == pytest.approx(2 * 1 / (2 + 2))  # tp 1, 2 predicted, 2 true
    assert macro == pytest.approx((1.0 + 0.0) / 2)  # column 2 (not in test) is left out


def test_jobtag_variants_parse_values_and_reject_unknown_fields():
    pytest.importorskip("jobtag.config")
    import accuracy

    configs = accuracy.jobtag_configs(["fast:lr=0.001,ae_epochs=2,deep_weights=[0.0]"])
    assert configs["fast"] == {"lr": 0.001, "ae_epochs": 2, "deep_weights": (0.0,)}
    wide = accuracy.jobtag_configs(["wide:hidden=512;256;128,lr=0.002"])["wide"]
    assert wide == {"hidden": (512, 256, 128), "lr": 0.002}  # ";" lists beside "," fields
    with pytest.raises(SystemExit, match="no field 'nope'"):
        accuracy.jobtag_configs(["bad:nope=1"])


def test_cross_fit_policy_prefers_global_when_per_tag_cuts_do_not_transfer():
    rng = np.random.default_rng(0)
    n, t = 200, 4
    y = rng.random((n, t)) < 0.3
    # one shared scale: per-tag cuts only fit noise, the global cut is right
    scores = y + rng.normal(0, 0.45, (n, t))
    name, f1 = peers.cross_fit_policy(scores, y, seed=1)
    assert name in ("global", "per-tag≥3", "per-tag≥10") and 0.5 < f1 <= 1.0
    # tag 0's scores are shifted far up: only per-tag thresholds can cut it right
    shifted = scores.copy()
    shifted[:, 0] += 5.0
    assert peers.cross_fit_policy(shifted, y, seed=1)[0].startswith("per-tag")


@pytest.mark.parametrize("policy", ["global", "auto"])
def test_tune_threshold_policies(policy):
    texts, y = tiny_set()
    fit_idx, val_idx = _data.validation_split(len(texts), 0.3, seed=3)
    choice = peers.tune("tfidf-svm", texts, y, fit_idx, val_idx, quick=True, policy=policy)
    if policy == "global":
        assert choice.threshold_policy == "global"
        assert np.allclose(choice.thresholds, choice.thresholds[0])
    assert all("thresholds" in trial for trial in choice.trials)
    with pytest.raises(ValueError, match="threshold policy"):
        peers.tune("tfidf-svm", texts, y, fit_idx, val_idx, policy="nope")


def test_default_data_dir_is_beside_the_repo_unless_env_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("JOBTAG_DATA", raising=False)
    assert _data.default_data_dir() == BENCH.parent.parent / "shared" / "data"
    monkeypatch.setenv("JOBTAG_DATA", str(tmp_path))
    assert _data.default_data_dir() == tmp_path
    assert _data.resolve_data_dir(None) == tmp_path
    with pytest.raises(InputError, match="JOBTAG_DATA"):
        _data.resolve_data_dir(str(tmp_path / "missing"))
