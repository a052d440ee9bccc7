"""Fitted text features as plain data: what inference computes from a normalised text, in NumPy alone.

The scikit-learn vectorizers of :mod:`triage.vectorizers` learn these objects in ``fit`` and call them in
``transform``, so training and serving share one implementation. Each object saves as JSON-able settings plus
arrays (:meth:`config`, :meth:`arrays`) and is rebuilt from them without running any code from the file.
"""
from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, islice, repeat
from typing import Any

import numpy as np

from .sparse import Csr, tfidf_rows

_BITS = 21  # every Unicode code point fits in 21 bits, so up to 3 characters pack into one int64
_MASK = (1 << _BITS) - 1
#: Keys looked up at once from which a vocabulary builds its hash table (fewer: a sorted search, no table).
_HASH_FROM = 8192
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing


# --- character n-grams -------------------------------------------------------------------------------------
def code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of all texts joined, and the index of the text each one belongs to."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    return cp, np.repeat(np.arange(len(texts), dtype=np.int64), lengths)


def all_grams(cp: np.ndarray, doc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed n-gram keys at every position, their text index, and whether each crosses a text boundary."""
    if len(cp) < n:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool)
    if n == 1:
        return cp, doc, np.zeros(len(cp), bool)
    keys = cp[: len(cp) - n + 1] << _BITS * (n - 1)
    for k in range(1, n):
        keys |= cp[k : len(cp) - n + 1 + k] << _BITS * (n - 1 - k)
    return keys, doc[: len(doc) - n + 1], doc[: len(doc) - n + 1] != doc[n - 1 :]


def gram_text(key: int, n: int) -> str:
    """The n characters packed in ``key``."""
    return "".join(chr((key >> (_BITS * (n - 1 - k))) & _MASK) for k in range(n))


class VocabIndex:
    """Position of each key in a sorted vocabulary of int64 keys, ``-1`` when absent.

    Few keys are found by binary search; a large batch builds, once, a direct table (single characters) or an
    open-addressing hash table (n-grams), several times faster per key than the search.
    """

    def __init__(self, vocab: np.ndarray, n: int) -> None:
        self.vocab = vocab
        self.n = n
        self._table: tuple[np.ndarray, ...] | None = None

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        if not len(self.vocab) or self._table is None and len(keys) < _HASH_FROM:
            return self._search(keys)
        if self._table is None:  # built once: every later call, however small, uses it
            self._table = self._build()
        return self._direct(keys) if self.n == 1 else self._hashed(keys)

    def _search(self, keys: np.ndarray) -> np.ndarray:
        if not len(self.vocab):
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.searchsorted(self.vocab, keys)
        pos[pos == len(self.vocab)] = 0
        return np.where(self.vocab[pos] == keys, pos, -1)

    def _build(self) -> tuple[np.ndarray, ...]:
        if self.n == 1:  # code point → position: 4 MB, one memory read per character
            table = np.full(sys.maxunicode + 1, -1, dtype=np.int32)
            table[self.vocab] = np.arange(len(self.vocab))
            return (table,)
        bits = max(int(np.ceil(np.log2(len(self.vocab)))) + 3, 10)  # load factor at most 1/8
        size = 1 << bits
        keys = np.full(size, -1, dtype=np.int64)
        values = np.full(size, -1, dtype=np.int32)
        slot = self._slots(self.vocab, bits)
        pending = np.arange(len(self.vocab))
        while len(pending):  # linear probing, inserted a whole wave at a time
            s = slot[pending]
            free = keys[s] == -1
            cand, s = pending[free], s[free]
            s, first = np.unique(s, return_index=True)
            won = cand[first]
            keys[s], values[s] = self.vocab[won], won
            placed = np.zeros(len(self.vocab), dtype=bool)
            placed[won] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & (size - 1)
        return keys, values, np.int64(bits)

    @staticmethod
    def _slots(keys: np.ndarray, bits: int) -> np.ndarray:
        return ((keys.view(np.uint64) * _HASH_MULT) >> np.uint64(64 - bits)).astype(np.intp)

    def _direct(self, keys: np.ndarray) -> np.ndarray:
        return self._table[0][keys].astype(np.int64)

    def _hashed(self, keys: np.ndarray) -> np.ndarray:
        table_keys, values, bits = self._table
        mask = len(table_keys) - 1
        slot = self._slots(keys, int(bits))
        found = table_keys[slot]
        out = values[slot].astype(np.int64)
        hit = found == keys
        out[~hit] = -1
        todo = np.flatnonzero(~hit & (found != -1))
        while len(todo):  # probe on until the key or an empty slot
            s = (slot[todo] + 1) & mask
            slot[todo] = s
            found = table_keys[s]
            hit = found == keys[todo]
            out[todo[hit]] = values[s[hit]]
            todo = todo[~hit & (found != -1)]
        return out


@dataclass
class CharFeatures:
    """Character n-gram TF-IDF (smooth idf, optional sublinear tf, L2-normalised rows) of a fitted vocabulary.

    ``vocab[k]`` holds the sorted packed keys of the ``ngram_range[0] + k``-grams; columns follow that order.
    """

    ngram_range: tuple[int, int]
    vocab: list[np.ndarray]
    idf: np.ndarray
    sublinear_tf: bool = True
    lowercase: bool = True
    _indexes: list[VocabIndex] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ngram_range = (int(self.ngram_range[0]), int(self.ngram_range[1]))
        self.offsets = np.cumsum([0] + [len(v) for v in self.vocab[:-1]]).tolist()
        self.n_features = int(sum(len(v) for v in self.vocab))
        self._indexes = [VocabIndex(v, n) for v, n in zip(self.vocab, self.ns)]

    @property
    def ns(self) -> range:
        return range(self.ngram_range[0], self.ngram_range[1] + 1)

    def transform(self, texts: Sequence[str]) -> Csr:
        if self.lowercase:
            texts = [t.lower() for t in texts]
        cp, doc = code_points(texts)
        rows, cols = [], []
        for n, index, offset in zip(self.ns, self._indexes, self.offsets):
            keys, d, crossing = all_grams(cp, doc, n)
            if not len(keys):
                continue
            pos = index(keys)
            hit = (pos >= 0) & ~crossing
            rows.append(d[hit])
            cols.append(pos[hit] + offset)
        r = np.concatenate(rows) if rows else np.empty(0, np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, np.int64)
        return tfidf_rows(r, c, (len(texts), self.n_features), self.idf, self.sublinear_tf)

    def feature_name(self, column: int) -> str:
        k = int(np.searchsorted(self.offsets, column, side="right")) - 1
        return gram_text(int(self.vocab[k][column - self.offsets[k]]), self.ns[k])

    def feature_names(self) -> list[str]:
        return [gram_text(key, n) for n, vocab in zip(self.ns, self.vocab) for key in vocab.tolist()]

    def config(self) -> dict[str, Any]:
        return {"ngram_range": list(self.ngram_range), "sublinear_tf": self.sublinear_tf, "lowercase": self.lowercase}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"char_idf": self.idf, **{f"char_vocab_{n}": v for n, v in zip(self.ns, self.vocab)}}

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> CharFeatures:
        lo, hi = config["ngram_range"]
        return cls((lo, hi), [arrays[f"char_vocab_{n}"] for n in range(lo, hi + 1)], arrays["char_idf"],
                   bool(config["sublinear_tf"]), bool(config["lowercase"]))


# --- words -------------------------------------------------------------------------------------------------
@dataclass
class WordFeatures:
    """Word-unigram TF-IDF of a whole text and, when ``head_chars`` is set, of its first characters.

    ``words[i]`` is the word of column ``i`` in both blocks; ``tokenizer`` maps a text to its words.
    """

    tokenizer: Callable[[str], list[str]]
    words: list[str]
    idf: np.ndarray
    head_idf: np.ndarray | None = None
    head_chars: int | None = 40
    sublinear_tf: bool = True
    lowercase: bool = True

    def __post_init__(self) -> None:
        self.vocabulary = {w: i for i, w in enumerate(self.words)}

    @property
    def n_features(self) -> int:
        return len(self.words)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.tokenizer(t.lower() if self.lowercase else t) for t in texts]

    def transform(self, texts: Sequence[str]) -> list[Csr]:
        """The whole-text block, then the head block (when there is one)."""
        n, v = len(texts), len(self.words)
        (br, bc), (hr, hc) = token_ids(self.tokens(texts), self.vocabulary, self.head_chars)
        keep = bc >= 0
        blocks = [tfidf_rows(br[keep], bc[keep], (n, v), self.idf, self.sublinear_tf)]
        if self.head_chars:
            keep = hc >= 0
            blocks.append(tfidf_rows(hr[keep], hc[keep], (n, v), self.head_idf, self.sublinear_tf))
        return blocks

    def config(self) -> dict[str, Any]:
        return {"words": self.words, "head_chars": self.head_chars, "sublinear_tf": self.sublinear_tf,
                "lowercase": self.lowercase}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"word_idf": self.idf, **({"word_head_idf": self.head_idf} if self.head_chars else {})}

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], tokenizer) -> WordFeatures:
        return cls(tokenizer, list(config["words"]), arrays["word_idf"], arrays.get("word_head_idf"),
                   config["head_chars"], bool(config["sublinear_tf"]), bool(config["lowercase"]))


def token_ids(docs: list[list[str]], vocab: dict[str, int], head_chars: int | None):
    """Token ids of every text (given as its tokens) and of its head, as ``(rows, cols)`` arrays; an unknown
    token has id -1. A token is in the head when the text before it is shorter than ``head_chars``."""
    counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    flat = list(chain.from_iterable(docs))
    cols = np.fromiter(map(vocab.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
    rows = np.repeat(np.arange(len(docs), dtype=np.int64), counts)
    if not head_chars:
        return (rows, cols), (rows[:0], cols[:0])
    h = head_chars
    k = np.fromiter((bisect_left(list(accumulate(map(len, islice(t, h)))), h) + 1 for t in docs),
                    dtype=np.int64, count=len(docs))
    k = np.minimum(k, counts)
    first = np.cumsum(counts) - counts
    idx = np.repeat(first - (np.cumsum(k) - k), k) + np.arange(int(k.sum()))
    return (rows, cols), (rows[idx], cols[idx])


# --- registry evidence -------------------------------------------------------------------------------------
@dataclass
class UnitHitFeatures:
    """Registry evidence as features: for each unit, named in the text / named first / its service words present.

    Built from the ``(mentions, service owners)`` the registry found in each text, all worth ``weight``.
    """

    units: list[str]
    weight: float

    def __post_init__(self) -> None:
        self.index = {u: i for i, u in enumerate(self.units)}

    @property
    def n_features(self) -> int:
        return 3 * len(self.units)

    def from_hits(self, hits) -> Csr:
        n, index = len(self.units), self.index
        cols: list[int] = []
        lengths = np.zeros(len(hits) + 1, dtype=np.int64)
        for r, (mentions, service_owners) in enumerate(hits):
            seen = set()
            for k, m in enumerate(mentions):
                i = index.get(m.unit)
                if i is not None:
                    seen.add(i)
                    if k == 0:
                        seen.add(n + i)
            for owners in service_owners:
                for u in owners:
                    i = index.get(u)
                    if i is not None:
                        seen.add(2 * n + i)
            cols.extend(sorted(seen))
            lengths[r + 1] = len(seen)
        data = np.full(len(cols), float(self.weight))
        return Csr(data, np.asarray(cols, dtype=np.int64), np.cumsum(lengths), self.n_features)

    def config(self) -> dict[str, Any]:
        return {"units": self.units, "weight": self.weight}
