"""Why a tag was suggested: the job's own words that pushed each tag's logit most, from the served model."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from jobtag.features.batch import FeatureBatch
from jobtag.features.hashing import TITLE_PREFIX
from jobtag.models.inputs import BagWeighting, padded
from jobtag.records import Job

if TYPE_CHECKING:
    from jobtag.app import Prediction, Tagger
    from jobtag.features.pipeline import Featurizer
    from jobtag.models.tagmodel import TagModel

log = logging.getLogger(__name__)

TOP_FOR = 5  # words shown that pushed a tag up
TOP_AGAINST = 3  # words shown that pushed it down


@dataclass(frozen=True)
class PathWeights:
    """How the net's paths add up to a logit: deep * deep_path + wide * wide_path + offset."""

    deep: float
    wide: float


def path_weights(model: TagModel) -> PathWeights:
    """The one place that knows how `model.net` mixes its paths (adapt here when it changes).

    TagNet: logits = mix[0] * deep + mix[1] * (wide + bias + name prior) + offset; training's
    Platt slope is already inside mix, and the offset is the same for every word, so it explains
    nothing. The name prior (TagNet.name_prior) rides on the wide weight."""
    net = model.net
    mix = [float(v) for v in net.mix]
    return PathWeights(deep=mix[0], wide=mix[1] if net.wide is not None else 0.0)


def word_buckets(featurizer: Featurizer, job: Job) -> dict[int, tuple[str, bool]]:
    """Hash bucket -> (the job's first word mapping to it, whether from the title), re-tokenized
    exactly as the featurizer does (clean -> words -> stem -> hash; title words own buckets)."""
    title, desc = featurizer.clean(job)
    norm, hasher = featurizer.normalizer, featurizer.hasher
    out: dict[int, tuple[str, bool]] = {}
    for text, prefix in ((title, TITLE_PREFIX), (desc, "")):
        for word in norm.words(text):
            stem = norm.stem(word)
            if stem:
                out.setdefault(hasher.id(prefix + stem), (word, bool(prefix)))
    return out


def _weighted_bag(model: TagModel, bag: sp.csr_matrix) -> sp.csr_matrix:
    """The wide path's input: `model.weighting.transform(bag)`, done in numpy for a
    `BagWeighting` (scipy's per-call overhead is about a millisecond, a third of a predict)."""
    weighting = model.weighting
    if not isinstance(weighting, BagWeighting) or weighting.idf_ is None:
        return weighting.transform(bag)
    data = (1.0 + np.log(np.maximum(bag.data, 1.0))) * weighting.idf_[bag.indices]
    sizes = np.diff(bag.indptr)
    starts = bag.indptr[:-1][sizes > 0]
    norms = np.ones(len(sizes), np.float32)
    if len(starts):
        norms[sizes > 0] = np.sqrt(np.add.reduceat(data * data, starts))
    norms[norms == 0] = 1.0
    data = (data / np.repeat(norms, sizes)).astype(np.float32)
    return sp.csr_matrix((data, bag.indices, bag.indptr), shape=bag.shape)


def _wide_contributions(model: TagModel, batch: FeatureBatch, w: PathWeights) -> list[Any]:
    """Per job: (bucket ids, (k, T) logit contributions) of the wide path (bag x weight x mix)."""
    net = model.net
    if net.wide is None or w.wide == 0.0 or model.weighting is None:
        return [None] * len(batch)
    bag = _weighted_bag(model, batch.bag)
    weight = net.wide.weight.detach().numpy()
    out = []
    for i in range(len(batch)):
        lo, hi = bag.indptr[i], bag.indptr[i + 1]
        idx, vals = bag.indices[lo:hi], bag.data[lo:hi]
        out.append((idx, vals[:, None] * weight[idx] * w.wide))
    return out


def _name_contributions(
    model: TagModel, batch: FeatureBatch, columns: list[int], w: PathWeights
) -> list[dict[int, np.ndarray]] | None:
    """Per job: bag bucket -> (len(columns),) logit pushes of the tag names' evidence.

    A name stem the job has in its title is credited to its title bucket (its share of the
    "anywhere" weight and of the title weight), else to its description bucket. The accurate
    mode's third channel (the title's meaning close to the name's) is no word's doing: not shown."""
    net = model.net
    if not net.uses_names or w.wide == 0.0 or not columns:
        return None
    weight = [float(v) * w.wide for v in net.names_weight]
    fade = net.names_shrink.numpy()
    stems = [model.tag_names.columns(col) for col in columns]  # the same for every job
    out: list[dict[int, np.ndarray]] = []
    for i in range(len(batch)):
        lo, hi = batch.bag.indptr[i], batch.bag.indptr[i + 1]
        has = set(batch.bag.indices[lo:hi].tolist())
        pushes: dict[int, np.ndarray] = {}
        for k, col in enumerate(columns):
            for desc, title, share in stems[k]:
                if title in has:
                    bucket, push = title, share * (weight[0] + weight[1])
                elif desc in has:
                    bucket, push = desc, share * weight[0]
                else:
                    continue
                row = pushes.setdefault(bucket, np.zeros(len(columns)))
                row[k] += push * fade[col]
        out.append(pushes)
    return out


def _deep_contributions(
    model: TagModel, batch: FeatureBatch, columns: list[int], w: PathWeights
) -> np.ndarray | None:
    """(n, L, len(columns)) gradient x input of the deep path's logits on each word position.

    The embedding output is made a leaf by a forward hook that acts only in this thread (the
    service predicts with the same modules in another thread at the same time)."""
    if w.deep == 0.0 or not columns:
        return None
    enc, net = model.ae.encoder, model.net
    enc.eval()
    net.eval()
    tok = torch.from_numpy(padded(batch.tokens, model.feature_settings.max_tokens))  # (n, L)
    owner, captured = threading.get_ident(), []

    def leaf(_m: torch.nn.Module, _i: Any, out: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None
        out = out.detach().requires_grad_(True)
        captured.append(out)
        return out

    handle = enc.embed.register_forward_hook(leaf)
    try:
        with torch.enable_grad():
            code = enc(tok)  # (n, code_dim)
            parts = [code, torch.from_numpy(model.scaler.transform(batch.numeric))]
            vectors = model.deep_embedding(batch)  # the sentence vectors, when the path reads them
            if vectors is not None:
                parts.append(torch.from_numpy(vectors))
            deep = net.out(net.deep(torch.cat(parts, 1)))  # (n, T) before the mix
            emb = captured[0]  # (n, L, E)
            per_tag = []
            for k, col in enumerate(columns):
                last = k == len(columns) - 1
                (grad,) = torch.autograd.grad(deep[:, col].sum(), emb, retain_graph=not last)
                per_tag.append((grad * emb).sum(-1))  # (n, L)
            result = torch.stack(per_tag, -1).detach().numpy()  # (n, L, len(columns))
    finally:
        handle.remove()
    return result * w.deep


def explain_batch(
    model: TagModel,
    batch: FeatureBatch,
    words: Sequence[dict[int, tuple[str, bool]]],
    tags: Sequence[Sequence[str]],
    top_for: int = TOP_FOR,
    top_against: int = TOP_AGAINST,
) -> list[dict[str, dict[str, list[dict[str, Any]]]]]:
    """Per job, per tag of `tags[i]`: {"for": [...], "against": [...]} of {"word", "title",
    "weight"} (logit units, every path with a non-zero weight summed per word)."""
    w = path_weights(model)
    col = {t: i for i, t in enumerate(model.tags)}
    wanted = sorted({col[t] for ts in tags for t in ts if t in col})
    pos = {c: k for k, c in enumerate(wanted)}
    wide = _wide_contributions(model, batch, w)
    deep = _deep_contributions(model, batch, wanted, w)
    name_push = _name_contributions(model, batch, wanted, w)
    out: list[dict[str, dict[str, list[dict[str, Any]]]]] = []
    for i, job_tags in enumerate(tags):
        per_bucket: dict[int, np.ndarray] = {}
        if wide[i] is not None:
            idx, contrib = wide[i]
            for b, row in zip(idx.tolist(), contrib[:, wanted], strict=True):
                per_bucket[b] = per_bucket.get(b, 0) + row
        if deep is not None:
            for p, b in enumerate(batch.tokens[i][: deep.shape[1]].tolist()):
                per_bucket[b] = per_bucket.get(b, 0) + deep[i, p]
        if name_push is not None:
            for b, row in name_push[i].items():
                per_bucket[b] = per_bucket.get(b, 0) + row
        per_word: dict[str, tuple[np.ndarray, bool]] = {}
        for b, row in per_bucket.items():
            if b not in words[i]:
                continue  # a bucket of a word beyond what is shown (never expected)
            word, in_title = words[i][b]
            old, was_title = per_word.get(word, (0, False))
            per_word[word] = (old + row, was_title or in_title)
        names = list(per_word)
        matrix = np.array([per_word[n][0] for n in names]) if names else np.zeros((0, len(wanted)))
        job_out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for tag in job_tags:
            if tag not in col:
                continue
            v = matrix[:, pos[col[tag]]] if len(names) else np.zeros(0)
            order = np.argsort(-v, kind="stable")
            item = [
                {"word": names[j], "title": per_word[names[j]][1], "weight": round(float(v[j]), 3)}
                for j in order
            ]
            job_out[tag] = {
                "for": [x for x in item if x["weight"] > 0][:top_for],
                "against": [x for x in reversed(item) if x["weight"] < 0][:top_against],
            }
        out.append(job_out)
    return out


def explain_jobs(
    tagger: Tagger, jobs: Sequence[Job], predictions: Sequence[Prediction]
) -> list[dict[str, dict[str, list[dict[str, Any]]]]]:
    """Explanations of the decided tags of `predictions` (one per job) by the active model."""
    if not jobs:
        return []
    model, _version = tagger.load_model()
    batch = tagger.featurizer.transform(list(jobs))
    words = [word_buckets(tagger.featurizer, job) for job in jobs]
    return explain_batch(model, batch, words, [p.tags for p in predictions])
