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

from .kernels import compiled
from .segment import compiled_dictionary, probe_text
from .sparse import Csr, tfidf_rows
from .text import Segmenter

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


def _large(texts: Sequence[str]) -> bool:
    """Whether a batch is large enough to build the C kernel's look-up tables for; smaller ones, like one letter
    at the desk, are looked up without them until a large one has built them."""
    return compiled is not None and sum(map(len, texts)) >= _HASH_FROM


class VocabIndex:
    """Position of each key in a sorted vocabulary of int64 keys, ``-1`` when absent.

    Few keys are found by binary search; a large batch builds, once, a direct table (single characters) or an
    open-addressing hash table (n-grams), several times faster per key than the search.
    """

    def __init__(self, vocab: np.ndarray, n: int) -> None:
        self.vocab = vocab
        self.n = n
        self._table: tuple[np.ndarray, ...] | None = None
        self._hash: tuple[np.ndarray, np.ndarray, int] | None = None

    def __getstate__(self) -> dict:
        """Pickles without the look-up tables, which the receiving process builds again when it needs them."""
        return {**self.__dict__, "_table": None, "_hash": None}

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
        return self.hash_table()

    def hash_table(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The vocabulary as an open-addressing table: key slots (-1 where empty), each key's position, and
        log2 of the size (load factor at most 1/8; Fibonacci hashing, linear probing). Built once."""
        if self._hash is not None:
            return self._hash
        bits = max(int(np.ceil(np.log2(max(len(self.vocab), 1)))) + 3, 10)
        size = 1 << bits
        keys = np.full(size, -1, dtype=np.int64)
        values = np.full(size, -1, dtype=np.int32)
        if compiled is not None:
            compiled.fill_table(np.ascontiguousarray(self.vocab, dtype=np.int64), keys, values, bits)
        else:
            self._fill(keys, values, bits)
        self._hash = (keys, values, bits)
        return self._hash

    def _fill(self, keys: np.ndarray, values: np.ndarray, bits: int) -> None:
        """Insert the vocabulary into the empty table in NumPy, a whole wave of keys at a time."""
        size = len(keys)
        slot = self._slots(self.vocab, bits)
        pending = np.arange(len(self.vocab))
        while len(pending):
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

    def transform(self, texts: Sequence[str], *, lowercased: bool = False) -> Csr:
        """The TF-IDF rows of ``texts`` (``lowercased``: already lowercased by the caller, as the words' were)."""
        if self.lowercase and not lowercased:
            texts = [t.lower() for t in texts]
        if not self.tables_built and _large(texts):
            self.build_tables()
        if compiled is not None and self.tables_built:
            r, c = self._grams_compiled(texts if isinstance(texts, list) else list(texts))
            return tfidf_rows(r, c, (len(texts), self.n_features), self.idf, self.sublinear_tf)
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

    @property
    def tables_built(self) -> bool:
        """Whether the C kernel's look-up tables exist (built by the first large batch, or :meth:`build_tables`)."""
        return all(index._hash is not None for index in self._indexes)

    def build_tables(self) -> None:
        """Build the vocabularies' hash tables now (tens of MB, a twentieth of a second) rather than on first use."""
        for index in self._indexes:
            index.hash_table()

    def _grams_compiled(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(row, column)`` of every known n-gram occurrence, found by the C kernel in the vocabularies' tables."""
        room = sum(map(len, texts)) * len(self.ns)
        rows, cols = np.empty(room, dtype=np.int64), np.empty(room, dtype=np.int64)
        tables = tuple((*index.hash_table(), offset) for index, offset in zip(self._indexes, self.offsets))
        found = compiled.char_grams(texts, self.ngram_range[0], tables, rows, cols)
        return rows[:found], cols[:found]

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
#: Texts segmented before their tokens are looked up (see :meth:`WordFeatures.transform`).
_SEGMENT_AT_ONCE = 256
_EMPTY = np.empty(0, dtype=np.int64)

@dataclass
class WordFeatures:
    """Word-unigram TF-IDF of a whole text and, when ``head_chars`` is set, of its first characters.

    ``words[i]`` is the word of column ``i`` in both blocks; ``tokenizer`` maps a text to its words.
    ``segmentation_check`` is a text and the tokens ``tokenizer`` gave it when the model was saved: the compiled
    segmenter must give the same before it is used (without it, ``tokenizer`` is asked).
    """

    tokenizer: Callable[[str], list[str]]
    words: list[str]
    idf: np.ndarray
    head_idf: np.ndarray | None = None
    head_chars: int | None = 40
    sublinear_tf: bool = True
    lowercase: bool = True
    segmentation_check: tuple[str, list[str]] | None = None

    def __post_init__(self) -> None:
        self.vocabulary = {w: i for i, w in enumerate(self.words)}
        self._short: tuple[np.ndarray, np.ndarray, int] | None = None
        self._segmenter = None  # the compiled segmenter (triage.segment), once built

    def __getstate__(self) -> dict:
        """Pickles without the C kernels' tables (:meth:`build_tables`), built again where needed."""
        return {**self.__dict__, "_short": None, "_segmenter": None}

    @property
    def n_features(self) -> int:
        return len(self.words)

    def tokens(self, texts: Sequence[str], lowercased: bool = False) -> list[list[str]]:
        lower = self.lowercase and not lowercased
        return [self.tokenizer(t.lower() if lower else t) for t in texts]

    def transform(self, texts: Sequence[str], *, lowercased: bool = False) -> list[Csr]:
        """The whole-text block, then the head block (when there is one).

        Texts are segmented a few hundred at a time, their tokens turned into ids at once: the token strings of
        a whole chunk would fill tens of MB, leave the CPU cache before being looked up, and make the allocator
        return and fault in that memory again for every chunk.
        """
        n, v = len(texts), len(self.words)
        if self._short is None and self._segmenter is None and _large(texts):
            self.build_tables()
        if self._segmenter is not None and compiled is not None:
            (br, bc), (hr, hc) = self._ids_compiled(texts, lowercased)
        else:
            (br, bc), (hr, hc) = _stacked([
                token_ids(self.tokens(texts[s : s + _SEGMENT_AT_ONCE], lowercased), self.vocabulary, self.head_chars,
                          self._short, first_row=s)
                for s in range(0, n, _SEGMENT_AT_ONCE)
            ])
        keep = bc >= 0
        blocks = [tfidf_rows(br[keep], bc[keep], (n, v), self.idf, self.sublinear_tf)]
        if self.head_chars:
            keep = hc >= 0
            blocks.append(tfidf_rows(hr[keep], hc[keep], (n, v), self.head_idf, self.sublinear_tf))
        return blocks

    def build_tables(self) -> None:
        """Build the C kernels' tables now rather than on the first large batch: the compiled segmenter, which
        gives each token's column as it segments (tens of MB, a tenth of a second), when the tokenizer is a
        :class:`~triage.text.Segmenter` and jieba's files are at hand; else the table of short words (a few MB)."""
        if self._segmenter is None and isinstance(self.tokenizer, Segmenter) and compiled is not None:
            self._segmenter = compiled_dictionary(self.tokenizer.words, self.words, self.check())
        if self._segmenter is None:
            self.short_word_table()

    def _ids_compiled(self, texts: Sequence[str], lowercased: bool = False):
        """:func:`token_ids` of the texts, segmented by the compiled segmenter (same tokens as the tokenizer)."""
        texts = [t.lower() for t in texts] if self.lowercase and not lowercased else list(texts)
        counts, k = np.empty(len(texts), dtype=np.int64), np.empty(len(texts), dtype=np.int64)
        cols = np.empty(sum(map(len, texts)), dtype=np.int64)
        found = self._segmenter.ids(texts, self.head_chars or 0, cols, counts, k)
        return _with_rows(cols[:found], counts, k, 0, self.head_chars)

    def short_word_table(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The words of 1 to 3 characters (not starting with NUL) as a packed-key table for the C kernel, which
        then finds short tokens without hashing them; built once. ``None`` without the kernel."""
        if self._short is None and compiled is not None:
            lengths = np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))
            cp, _ = code_points(self.words)
            first = np.cumsum(lengths) - lengths
            columns = np.flatnonzero((lengths >= 1) & (lengths <= 3))
            columns = columns[cp[first[columns]] != 0]
            keys = np.zeros(len(columns), dtype=np.int64)
            for k in range(3):  # up to three code points in one key, as all_grams() packs them
                more = lengths[columns] > k
                keys[more] = (keys[more] << _BITS) | cp[first[columns[more]] + k]
            order = np.argsort(keys)
            table_keys, positions, bits = VocabIndex(keys[order], 0).hash_table()
            columns = columns.astype(np.int32)[order]
            values = np.where(positions >= 0, columns[np.maximum(positions, 0)], -1).astype(np.int32)
            self._short = (table_keys, values, bits)
        return self._short

    def check(self) -> tuple[str, list[str]]:
        """:attr:`segmentation_check`, made now from the tokenizer when the model did not bring one."""
        if self.segmentation_check is None:
            text = probe_text(self.words)
            self.segmentation_check = (text, list(self.tokenizer(text)))
        return self.segmentation_check

    def config(self) -> dict[str, Any]:
        text, tokens = self.check()
        return {"words": self.words, "head_chars": self.head_chars, "sublinear_tf": self.sublinear_tf,
                "lowercase": self.lowercase, "segmentation_check": {"text": text, "tokens": tokens}}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"word_idf": self.idf, **({"word_head_idf": self.head_idf} if self.head_chars else {})}

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], tokenizer) -> WordFeatures:
        check = config.get("segmentation_check")
        return cls(tokenizer, list(config["words"]), arrays["word_idf"], arrays.get("word_head_idf"),
                   config["head_chars"], bool(config["sublinear_tf"]), bool(config["lowercase"]),
                   (str(check["text"]), [str(t) for t in check["tokens"]]) if check else None)


def token_ids(docs: list[list[str]], vocab: dict[str, int], head_chars: int | None,
              short_words: tuple[np.ndarray, np.ndarray, int] | None = None, first_row: int = 0):
    """Token ids of every text (given as its tokens) and of its head, as ``(rows, cols)`` arrays (rows numbered
    from ``first_row``); an unknown token has id -1. A token is in the head when the text before it is shorter
    than ``head_chars``.

    ``short_words`` (:meth:`WordFeatures.short_word_table`) lets the C kernel do the work.
    """
    if compiled is not None and short_words is not None:
        counts, k = np.empty(len(docs), dtype=np.int64), np.empty(len(docs), dtype=np.int64)
        cols = np.empty(sum(map(len, docs)), dtype=np.int64)
        compiled.token_ids(docs if isinstance(docs, list) else list(docs), vocab, short_words, head_chars or 0, cols,
                           counts, k)
    else:
        counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        flat = list(chain.from_iterable(docs))
        cols = np.fromiter(map(vocab.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        if head_chars:
            h = head_chars
            k = np.fromiter((bisect_left(list(accumulate(map(len, islice(t, h)))), h) + 1 for t in docs),
                            dtype=np.int64, count=len(docs))
            k = np.minimum(k, counts)
    return _with_rows(cols, counts, k if head_chars else None, first_row, head_chars)


def _with_rows(cols: np.ndarray, counts: np.ndarray, k: np.ndarray | None, first_row: int, head_chars: int | None):
    """:func:`token_ids`' result from the columns of all tokens, the number of tokens of each text and how many
    of them are in its head (``k``)."""
    rows = np.repeat(np.arange(first_row, first_row + len(counts), dtype=np.int64), counts)
    if not head_chars:
        return (rows, cols), (rows[:0], cols[:0])
    first = np.cumsum(counts) - counts
    idx = np.repeat(first - (np.cumsum(k) - k), k) + np.arange(int(k.sum()))
    return (rows, cols), (rows[idx], cols[idx])


def _stacked(parts: list) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The :func:`token_ids` of consecutive slices of texts as those of all of them."""
    if len(parts) == 1:
        return parts[0]
    return tuple(tuple(np.concatenate([p[block][k] for p in parts]) if parts else _EMPTY for k in (0, 1))
                 for block in (0, 1))


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
