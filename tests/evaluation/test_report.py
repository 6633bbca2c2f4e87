"""The HTML report: separate loss and score axes, a labelled picture of the codes, zero-F1 tags named."""

from __future__ import annotations

import numpy as np

from jobtag.evaluation import report


def test_report_names_zero_f1_tags_and_splits_the_curves(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    tags = ["good", "never-right", "other"]
    y_true = np.zeros((40, 3), bool)
    y_true[:20, 0] = y_true[20:30, 1] = y_true[30:, 2] = True
    y_pred = y_true.copy()
    y_pred[:, 1] = False  # "never-right" has F1 = 0
    panels = []
    real = report._curves

    def spy(plt, history):
        fig = real(plt, history)
        panels.append([(a.get_ylabel(), a.get_ylim()) for a in fig.axes])
        return fig

    monkeypatch.setattr(report, "_curves", spy)
    page = report.write_report(
        tmp_path, y_true, rng.random((40, 3)), y_pred, tags, np.full(3, 0.5),
        {"micro_f1": 0.8}, history={"tagger loss": [30.0, 12.0, 5.0],
                                    "validation score": [0.5, 0.7, 0.8]},
        codes=rng.normal(size=(40, 8)).astype(np.float32),
        code_labels=["good"] * 20 + ["never-right"] * 10 + ["other"] * 10,
    ).read_text()  # fmt: skip
    assert "Tags present with F1 = 0: never-right." in page
    assert [p[0] for p in panels[0]] == ["loss", "validation score"]
    assert panels[0][1][1][1] <= 1.05  # the score keeps its own 0..1 axis
    assert "projected to 2-d" in page and "width:100%" in page
