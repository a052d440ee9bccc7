"""Fast TF-IDF vectorizers for the hot path of inference.

:class:`CharNgramTfidf` gives the same features as ``TfidfVectorizer(analyzer="char", sublinear_tf=True)``,
computed with NumPy over a whole batch instead of a Python loop over every n-gram. :class:`WordTfidf` segments
each text once and yields two blocks: word unigrams of the whole text, and of its first characters (where a
title and the gist usually are). Both are several times faster than scikit-learn's vectorizers here.
"""
from __future__ import annotations

import sys
from bisect import bisect_left
from itertools import accumulate, chain, islice, repeat

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

_BITS = 21  # every Unicode code point fits in 21 bits, so up to 3 characters pack into one int64
_MASK = (1 << _BITS) - 1


def _code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of all texts joined, and the index of the text each one belongs to."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    joined = "".join(texts)
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    return cp, np.repeat(np.arange(len(texts), dtype=np.int64), lengths)


def _grams(cp: np.ndarray, doc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed n-gram keys that do not cross a text boundary, with their text index."""
    keys, d, crossing = _all_grams(cp, doc, n)
    return keys[~crossing], d[~crossing]


def _all_grams(cp: np.ndarray, doc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed n-gram keys at every position, their text index, and whether each crosses a text boundary."""
    if len(cp) < n:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool)
    if n == 1:
        return cp, doc, np.zeros(len(cp), bool)
    keys = cp[: len(cp) - n + 1] << _BITS * (n - 1)
    for k in range(1, n):
        keys |= cp[k : len(cp) - n + 1 + k] << _BITS * (n - 1 - k)
    return keys, doc[: len(doc) - n + 1], doc[: len(doc) - n + 1] != doc[n - 1 :]


class CharNgramTfidf(BaseEstimator, TransformerMixin):
    """Character n-gram TF-IDF (smooth idf, optional sublinear tf, L2-normalised rows).

    Parameters
    ----------
    ngram_range : (int, int)
        Smallest and largest n (at most 3).
    min_df : int
        Keep n-grams found in at least this many training texts.
    sublinear_tf : bool
        Use ``1 + log(tf)`` instead of raw counts.
    lowercase : bool
        Lower-case texts first.
    """

    def __init__(self, *, ngram_range=(1, 2), min_df: int = 1, sublinear_tf: bool = True, lowercase: bool = True):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase

    def _prepare(self, X) -> list[str]:
        if isinstance(X, str):
            raise TypeError("Iterable over raw text documents expected, string object received.")
        return [t.lower() for t in X] if self.lowercase else list(X)

    def fit(self, X, y=None):
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi <= 3:
            raise ValueError(f"ngram_range must satisfy 1 <= min <= max <= 3; got {self.ngram_range}")
        texts = self._prepare(X)
        cp, doc = _code_points(texts)
        n_docs = len(texts)
        self.vocab_, self.idf_, self.offsets_ = [], [], []
        offset = 0
        for n in range(lo, hi + 1):
            keys, d = _grams(cp, doc, n)
            uniq, inverse = np.unique(keys, return_inverse=True)
            presence = sp.csr_matrix((np.ones(len(keys)), (d, inverse)), shape=(n_docs, len(uniq)))
            presence.sum_duplicates()
            df = np.bincount(presence.indices, minlength=len(uniq))
            keep = df >= self.min_df
            self.vocab_.append(uniq[keep])
            self.idf_.append(np.log((1 + n_docs) / (1 + df[keep])) + 1.0)
            self.offsets_.append(offset)
            offset += int(keep.sum())
        if offset == 0:
            raise ValueError("After pruning, no character n-grams remain; lower min_df or give more texts.")
        self.n_features_ = offset
        self.idf_all_ = np.concatenate(self.idf_)
        return self

    def transform(self, X) -> sp.csr_matrix:
        check_is_fitted(self, "vocab_", msg="The character n-gram vectorizer is not fitted.")
        texts = self._prepare(X)
        cp, doc = _code_points(texts)
        rows, cols = [], []
        for (n, vocab, offset) in zip(range(self.ngram_range[0], self.ngram_range[1] + 1), self.vocab_, self.offsets_):
            keys, d, crossing = _all_grams(cp, doc, n)
            if not len(vocab) or not len(keys):
                continue
            pos = self._lookup(n, vocab, keys)
            pos[crossing] = -1
            rows.append(d)
            cols.append(np.where(pos >= 0, pos + offset, -1))
        r = np.concatenate(rows) if rows else np.empty(0, np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, np.int64)
        hit = c >= 0
        return _tfidf_rows(r[hit], c[hit], (len(texts), self.n_features_), self.idf_all_, self.sublinear_tf)

    def _lookup(self, n: int, vocab: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Vocabulary position of each key, -1 if absent: a direct table for characters, a hash index for n-grams."""
        if n == 1:
            return self._index(n, vocab)[keys]
        return self._index(n, vocab).get_indexer(keys)  # a C hash table: far faster than a sorted search

    def _index(self, n: int, vocab: np.ndarray) -> pd.Index | np.ndarray:
        """Look-up structure for one n's vocabulary, built once per fitted (or loaded) vectorizer."""
        cache = self.__dict__.setdefault("_indexes", {})
        if n not in cache:
            if n == 1:  # code point → position: 4 MB, and one memory read per character
                table = np.full(sys.maxunicode + 1, -1, dtype=np.int32)
                table[vocab] = np.arange(len(vocab))
                cache[n] = table
            else:
                cache[n] = pd.Index(vocab)
        return cache[n]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_indexes"}

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "vocab_")
        names = []
        for n, vocab in zip(range(self.ngram_range[0], self.ngram_range[1] + 1), self.vocab_):
            for key in vocab.tolist():
                names.append("".join(chr((key >> (_BITS * (n - 1 - k))) & _MASK) for k in range(n)))
        return np.asarray(names, dtype=object)


def _tfidf_rows(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], idf: np.ndarray, sublinear: bool):
    """L2-normalised TF-IDF rows from one ``(row, col)`` pair per occurrence.

    Occurrences are counted with one vectorised sort of ``row * n_cols + col`` keys, which is twice as fast as
    letting SciPy sum duplicates row by row; the result has sorted indices and no duplicates.
    """
    n_rows, n_cols = shape
    keys = np.sort(rows * n_cols + cols)
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(keys))).astype(np.float64)
    r, c = np.divmod(keys[starts], n_cols)
    data = (np.log(counts) + 1.0 if sublinear else counts) * idf[c]
    norms = np.sqrt(np.bincount(r, weights=data * data, minlength=n_rows))
    norms[norms == 0] = 1.0
    data /= norms[r]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((data, c, indptr), shape=shape)


class WordTfidf(BaseEstimator, TransformerMixin):
    """Word-unigram TF-IDF from one segmentation per text, plus the same over its first ``head_chars`` characters.

    Parameters
    ----------
    tokenizer : callable
        Text → tokens (the model's :class:`triage.text.Segmenter`).
    min_df : int
        Keep words found in at least this many training texts (the head block keeps every word of the
        whole-text vocabulary it sees at least once).
    head_chars : int or None
        Length of the head; ``None`` for the whole-text block only.
    sublinear_tf, lowercase : bool
    """

    def __init__(self, *, tokenizer=None, min_df: int = 1, head_chars: int | None = 40,
                 sublinear_tf: bool = True, lowercase: bool = True):
        self.tokenizer = tokenizer
        self.min_df = min_df
        self.head_chars = head_chars
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase

    def _tokens(self, texts) -> list[list[str]]:
        if isinstance(texts, str):
            raise TypeError("Iterable over raw text documents expected, string object received.")
        return [self.tokenizer(t.lower() if self.lowercase else t) for t in texts]

    def _ids(self, docs: list[list[str]], vocab: dict[str, int]):
        """Token ids of every text (given as its tokens) and of its head, as (rows, cols) arrays; unknown tokens
        have id -1."""
        counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        flat = list(chain.from_iterable(docs))
        cols = np.fromiter(map(vocab.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), counts)
        body = (rows, cols)
        if not self.head_chars:
            return body, (rows[:0], cols[:0])
        # a token is in the head when the text before it (within its own text) is shorter than head_chars
        h = self.head_chars
        k = np.fromiter((bisect_left(list(accumulate(map(len, islice(t, h)))), h) + 1 for t in docs),
                        dtype=np.int64, count=len(docs))
        k = np.minimum(k, counts)
        first = np.cumsum(counts) - counts
        idx = np.repeat(first - (np.cumsum(k) - k), k) + np.arange(int(k.sum()))
        return body, (rows[idx], cols[idx])

    def fit(self, X, y=None):
        docs = self._tokens(X)
        df: dict[str, int] = {}
        for tokens in docs:
            for t in set(tokens):
                df[t] = df.get(t, 0) + 1
        words = sorted(w for w, c in df.items() if c >= self.min_df)
        if not words:
            raise ValueError("After pruning, no words remain; lower min_df or give more texts.")
        self.vocabulary_ = {w: i for i, w in enumerate(words)}
        n_docs = len(docs)
        counts = np.array([df[w] for w in words], dtype=np.float64)
        self.idf_ = np.log((1 + n_docs) / (1 + counts)) + 1.0
        if self.head_chars:
            head_df = np.zeros(len(words))
            _, (hr, hc) = self._ids(docs, self.vocabulary_)
            keep = hc >= 0
            pairs = np.unique(np.stack([hr[keep], hc[keep]]), axis=1)
            np.add.at(head_df, pairs[1], 1)
            self.head_idf_ = np.log((1 + n_docs) / (1 + head_df)) + 1.0
        return self

    def transform(self, X) -> sp.csr_matrix:
        check_is_fitted(self, "vocabulary_", msg="The word vectorizer is not fitted.")
        X = list(X)
        n, v = len(X), len(self.vocabulary_)
        (br, bc), (hr, hc) = self._ids(self._tokens(X), self.vocabulary_)
        keep = bc >= 0
        blocks = [_tfidf_rows(br[keep], bc[keep], (n, v), self.idf_, self.sublinear_tf)]
        if self.head_chars:
            keep = hc >= 0
            blocks.append(_tfidf_rows(hr[keep], hc[keep], (n, v), self.head_idf_, self.sublinear_tf))
        return sp.hstack(blocks, format="csr")

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        words = sorted(self.vocabulary_, key=self.vocabulary_.get)
        return np.asarray(words + ([f"head:{w}" for w in words] if self.head_chars else []), dtype=object)
