"""The facade (the Python API): a Tagger ties the job store, the featurizer and the active model."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jobtag.config import FeatureSettings, Settings, load_settings
from jobtag.errors import InputError, NoModel
from jobtag.evaluation.metrics import headline_metrics, multilabel_metrics
from jobtag.features.batch import FeatureBatch
from jobtag.features.pipeline import Featurizer
from jobtag.jobfiles import read_jobs
from jobtag.models.checkpoint import load_model, save_model
from jobtag.models.tagmodel import TagModel
from jobtag.records import Job, Progress, label_matrix, make_job
from jobtag.store import JobStore
from jobtag.training.fit import train_model

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Tags for one job: the decided tags and every tag's score (highest first)."""

    job_id: str
    tags: list[str]
    scores: dict[str, float]
    model_version: int | None = None
    # per decided tag, the job's words that pushed it: {"for": [...], "against": [...]}
    explanations: dict[str, Any] | None = None

    def to_dict(self, top_k: int | None = None) -> dict[str, Any]:
        scores = dict(list(self.scores.items())[:top_k]) if top_k else self.scores
        out = {
            "job_id": self.job_id,
            "tags": self.tags,
            "scores": {k: round(v, 4) for k, v in scores.items()},
            "model_version": self.model_version,
        }
        if self.explanations is not None:
            out["explanations"] = self.explanations
        return out


@dataclass
class TrainResult:
    version: int
    path: Path
    metrics: dict[str, Any]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


class Tagger:
    """Import jobs, train, predict, take feedback and evaluate, on one job store."""

    def __init__(self, settings: Settings | None = None, store: JobStore | None = None) -> None:
        self.settings = settings or load_settings()
        self._store = store
        self._featurizers: dict[str, Featurizer] = {}
        self._model: TagModel | None = None
        self._model_version: int | None = None

    # -- plumbing -------------------------------------------------------------------------
    @property
    def store(self) -> JobStore:
        if self._store is None:
            self._store = JobStore(self.settings.database_url)
        return self._store

    def featurizer_for(self, features: FeatureSettings) -> Featurizer:
        """The Tagger's featurizer of `features` (one per distinct settings, on the store's cache)."""
        key = repr(features)  # a dataclass: every field
        if key not in self._featurizers:  # its own copy: a change to `features` is another key
            self._featurizers[key] = Featurizer(dataclasses.replace(features), cache=self.store)
        return self._featurizers[key]

    @property
    def featurizer(self) -> Featurizer:
        """The featurizer of the loaded model's own features (a model is served as it was
        trained, whatever the settings say now), else of the settings (what training uses)."""
        model = self._model
        return self.featurizer_for(
            model.feature_settings if model is not None else self.settings.features
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Tagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def featurize_jobs(
        self, jobs: Sequence[Job], progress: bool = False, featurizer: Featurizer | None = None
    ) -> FeatureBatch:
        """Features of `jobs` (cached by content hash in the store) by `featurizer` (default: the
        loaded model's, `self.featurizer`); `progress`: a bar on stderr (the accurate mode's
        embeddings take minutes on a first run)."""
        if not jobs:
            raise InputError("no jobs to featurize")
        featurizer = featurizer or self.featurizer
        if not progress:
            return featurizer.transform(jobs)
        parts = []
        with tqdm(
            total=len(jobs), desc="featurize", unit="job", file=sys.stderr, leave=False
        ) as bar:
            for part in featurizer.iter_transform(jobs):
                parts.append(part)
                bar.update(len(part))
        return FeatureBatch.concat(parts)

    def _featurize_unlabeled(
        self, jobs: Sequence[Job], progress: bool, featurizer: Featurizer
    ) -> FeatureBatch:
        """Features of unlabeled jobs for training: only the autoencoder learns from them and it
        never reads sentence embeddings, so those are not computed."""
        return self.featurize_jobs(jobs, progress, featurizer.without_embedder())

    # -- data -----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    def featurize_store(self, progress: Progress = None) -> int:
        """Featurize every job in the store (fills the feature cache); returns the job count."""
        n = 0
        for batch in self.featurizer.iter_transform(self.store.iter_jobs()):
            n += len(batch)
            if progress:
                progress(len(batch))
        return n

    # -- model ----------------------------------------------------------------------------
    def train(self, progress: bool = True) -> TrainResult:
        """Train on every job in the store (AE on all, tagger on labeled); register and activate."""
        t0 = time.perf_counter()
        jobs = list(self.store.iter_jobs())
        # Every labeled job trains the served model: training chooses its settings on a
        # validation slice and then refits on all of them (no hold-out tax).
        labeled = [j for j in jobs if j.labeled]
        unlabeled = [j for j in jobs if not j.labeled]
        log.info("training on %d labeled + %d unlabeled jobs", len(labeled), len(unlabeled))
        if not labeled:
            from jobtag.errors import TrainingError

            raise TrainingError("the store has no labeled jobs: import jobs with tags first")
        if self.settings.features.embedder == "minilm":
            log.info("accurate mode: jobs without cached features are embedded with MiniLM (slow)")
        featurizer = self.featurizer_for(self.settings.features)  # a new model: the settings'
        train_batch = self.featurize_jobs(labeled, progress, featurizer)
        unl_batch = (
            self._featurize_unlabeled(unlabeled, progress, featurizer) if unlabeled else None
        )
        model = train_model(
            train_batch,
            [j.tags for j in labeled],
            self.settings.train,
            self.settings.features,
            unlabeled=unl_batch,
            progress=progress,
        )
        version, path = self.save_model(model, status="active", note="full training")
        self.prune_models()
        seconds = time.perf_counter() - t0
        # Every job in the store is in this model: the learning loop counts new jobs from here.
        self.store.record_update_run(
            jobs_used=len(jobs),
            labels=len(labeled),
            metrics_after=headline_metrics(model.val_metrics),
            model_version=version,
            promoted=True,
            reason="full training",
            seconds=seconds,
        )
        return TrainResult(version, path, dict(model.val_metrics), seconds, dict(model.summary))

    def save_model(
        self, model: TagModel, status: str, note: str, reuse_from: Path | None = None
    ) -> tuple[int, Path]:
        """Save `model` under the models folder and register it in the store.

        `reuse_from`: the checkpoint it was made from (its unchanged weight files are linked)."""
        models_dir = self.settings.models_dir
        models_dir.mkdir(parents=True, exist_ok=True)
        path = models_dir / f"model-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        save_model(model, path, reuse_from=reuse_from)
        version = self.store.register_model(
            str(path), dict(model.val_metrics), status="candidate", note=note
        )
        if status == "active":
            self.store.promote(version)
            self._model, self._model_version = model, version
        return version, path

    def prune_models(self) -> list[int]:
        """Delete the checkpoint files of old versions (see `JobStore.prune_models`; how many are
        kept: settings.update.keep_versions); returns the versions pruned. Only folders inside
        the models folder are deleted; the registry keeps every version's row."""
        models_dir = self.settings.models_dir.resolve()
        pruned = self.store.prune_models(max(0, self.settings.update.keep_versions))
        for m in pruned:
            path = Path(m.path).resolve()
            if path.parent != models_dir or not path.is_dir():
                continue
            # renamed first: a delete killed midway leaves a leftover that the next save removes
            gone = models_dir / f".{path.name}.old-{os.getpid()}"
            try:
                os.rename(path, gone)
                shutil.rmtree(gone)
            except OSError as exc:
                log.warning("could not delete the files of model version %d: %s", m.version, exc)
        return [m.version for m in pruned]

    def load_model(self, reload: bool = False) -> tuple[TagModel, int]:
        """The active model (loaded once, reloaded when another process promoted a new one)."""
        active = self.store.active_model()
        if active is None:
            raise NoModel("no trained model yet: run `jobtag train` first")
        version = active.version
        if reload or self._model is None or self._model_version != version:
            self._model = load_model(Path(active.path))
            self._model_version = version
            trained, now = self._model.feature_settings, self.settings.features
            if trained != now:
                log.info(
                    "model version %d is served with the features it was trained with (%s); "
                    "the settings' (%s) apply from the next `jobtag train`",
                    version,
                    _differences(trained, now),
                    _differences(now, trained),
                )
        assert self._model is not None
        return self._model, version

    def warm_up(self) -> int | None:
        """Load the active model and score one made-up job (nothing is stored, not even its
        features), so that the first real prediction does not pay for loading and first calls;
        returns the active model version, None when there is no model yet."""
        try:
            model, version = self.load_model()
        except NoModel:
            return None
        job = make_job("Warm-up", "<p>a made-up job scored once at start-up</p>", "jobtag-warm-up")
        model.decide(model.scores(Featurizer(model.feature_settings).transform([job])))
        return version

    # -- predict --------------------------------------------------------------------------
    def predict(
        self,
        jobs: Sequence[Job],
        record: bool = True,
        source: str = "predict",
        explain: bool = False,
    ) -> list[Prediction]:
        """Tag jobs with the active model; record each job and its prediction in the store.

        `explain`: each prediction also carries the words behind its tags (`jobtag.explain`)."""
        if not jobs:
            return []
        model, version = self.load_model()
        # Recorded: the features computed afresh are stored with the records (one transaction).
        fresh: dict[str, bytes] | None = {} if record else None
        batch = self.featurizer.transform(list(jobs), pending=fresh)
        scores = model.scores(batch)
        decided = model.decide(scores)
        out: list[Prediction] = []
        for job, row, dec in zip(jobs, scores, decided, strict=True):
            order = np.argsort(-row)
            out.append(
                Prediction(
                    job_id=job.job_id,
                    tags=[model.tags[i] for i in order if dec[i]],
                    scores={model.tags[i]: float(row[i]) for i in order},
                    model_version=version,
                )
            )
        if explain:
            from jobtag.explain import explain_batch, word_buckets

            words = [word_buckets(self.featurizer, job) for job in jobs]
            for p, why in zip(
                out, explain_batch(model, batch, words, [p.tags for p in out]), strict=True
            ):
                p.explanations = why
        if record:
            self.store.record_predictions_many(
                [(job, p.scores, p.tags) for job, p in zip(jobs, out, strict=True)],
                version,
                source,
                features=fresh,
                features_version=self.featurizer.version,
            )
        return out

    def feedback(
        self, job_id: str, tags: Sequence[str], who: str | None = None, source: str = "api"
    ) -> None:
        """Record the corrected tag set of a job (the truth from now on; new tags allowed)."""
        clean = sorted({t.strip() for t in tags if t and t.strip()})
        self.store.add_feedback(job_id, clean, who=who, source=source)

    def recent_predictions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recently predicted jobs with their predicted and human tags (for review)."""
        return self.store.recent_predictions(limit)

    def job_details(self, job_id: str) -> dict[str, Any]:
        """A stored job, its true tags and its correction log."""
        job = self.store.get_job(job_id)
        return {
            "job_id": job.job_id,
            "title": job.title,
            "description": job.description,
            "company_name": job.company_name,
            "tags": sorted(job.tags) if job.tags is not None else None,
            "corrections": self.store.feedback_log(job_id),
        }

    # -- evaluate -------------------------------------------------------------------------
    def evaluate_jobs(self, jobs: Sequence[Job]) -> dict[str, Any]:
        """Score labeled jobs with the active model (nothing is recorded)."""
        jobs = [j for j in jobs if j.labeled]
        if not jobs:
            raise InputError("no labeled jobs to evaluate")
        model, version = self.load_model()
        batch = self.featurize_jobs(jobs)
        scores = model.scores(batch)
        y_pred = model.decide(scores)
        y_true = label_matrix([j.tags for j in jobs], model.tags)
        result = multilabel_metrics(y_true, y_pred, scores, tag_names=model.tags)
        unknown = sorted({t for j in jobs for t in j.tags or ()} - set(model.tags))
        result.update(jobs=len(jobs), model_version=version, unknown_tags=unknown)
        return result

    def evaluate_file(self, path: str | Path, report_dir: Path | None = None) -> dict[str, Any]:
        """Metrics of the active model on a labeled file; `report_dir` also writes an HTML report."""
        jobs = list(read_jobs(Path(path), require_tags=True))
        result = self.evaluate_jobs(jobs)
        if report_dir is not None:
            result["report"] = str(self._report(jobs, result, Path(report_dir), Path(path).name))
        return result

    def _report(self, jobs: Sequence[Job], metrics: dict[str, Any], out: Path, name: str) -> Path:
        from jobtag.evaluation.report import write_report
        from jobtag.models.forward import encode

        jobs = [j for j in jobs if j.labeled]
        model, version = self.load_model()
        batch = self.featurize_jobs(jobs)
        scores = model.scores(batch)
        s = model.summary
        ae = s.get("autoencoder") or {}
        history = {
            "tagger loss": s.get("tagger_loss") or [],
            "validation score": s.get("validation_curve") or [],
            "autoencoder loss": ae.get("loss") or [],
        }
        codes = encode(model.ae.encoder, batch.tokens, model.feature_settings.max_tokens)
        first_tag = [sorted(j.tags or ())[0] for j in jobs]
        return write_report(
            out,
            label_matrix([j.tags for j in jobs], model.tags),
            scores,
            model.decide(scores),
            model.tags,
            model.thresholds,
            {k: v for k, v in metrics.items() if isinstance(v, float)},
            history=history,
            codes=codes,
            code_labels=first_tag,
            title=f"jobtag model v{version} on {name}",
        )


def _differences(a: FeatureSettings, b: FeatureSettings) -> str:
    """`a`'s fields that differ from `b`'s, as "name=value, ..."."""
    return ", ".join(
        f"features.{f.name}={getattr(a, f.name)}"
        for f in dataclasses.fields(a)
        if getattr(a, f.name) != getattr(b, f.name)
    )
