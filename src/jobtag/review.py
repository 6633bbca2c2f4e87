"""The review workflow's data: a page of the queue (doubt from the active model, explanations) and counts."""

from __future__ import annotations

import logging
from typing import Any

from jobtag.app import Prediction, Tagger
from jobtag.errors import NoModel
from jobtag.explain import explain_jobs
from jobtag.features.clean import HtmlCleaner
from jobtag.records import Job

log = logging.getLogger(__name__)

_cleaner = HtmlCleaner()


def review_page_data(
    tagger: Tagger,
    state: str = "unreviewed",
    tag: str | None = None,
    offset: int = 0,
    limit: int = 20,
    explain: bool = True,
) -> dict[str, Any]:
    """One page of the review queue (see `JobStore.review_queue`), least certain first by the
    active model's thresholds; each item also gets `text` (its description as plain text) and,
    with `explain`, `explanations` of its predicted tags by the active model."""
    try:
        model, version = tagger.load_model()
        thresholds = {t: float(v) for t, v in zip(model.tags, model.thresholds, strict=True)}
    except NoModel:
        model, version, thresholds = None, None, {}
    page = tagger.store.review_queue(thresholds, state, tag, offset, limit)
    items = page["items"]
    for item in items:
        item["text"] = _cleaner.clean(item["description"])
        item["thresholds"] = {t: round(thresholds[t], 4) for t in item["scores"] if t in thresholds}
    if explain and model is not None and items:
        jobs = [Job(job_id=i["job_id"], title=i["title"], description=i["description"])
                for i in items]  # fmt: skip
        preds = [Prediction(i["job_id"], i["predicted"], i["scores"], version) for i in items]
        for item, why in zip(items, explain_jobs(tagger, jobs, preds), strict=True):
            item["explanations"] = why
    page.update(state=state, tag=tag, model_version=version)
    return page


def review_counts_data(tagger: Tagger, update_running: bool = False) -> dict[str, Any]:
    """The counts at the top of the review page: waiting, reviewed today, corrections since the
    last update, and the next update (new jobs so far / needed, or that one is running)."""
    counts = tagger.store.review_counts()
    cfg = tagger.settings.update
    counts["next_update"] = {
        "new_jobs": tagger.store.jobs_since_last_update(),
        "every_n_jobs": cfg.every_n_jobs,
        "auto": cfg.auto,
        "running": bool(update_running),
    }
    return counts
