"""Sparse rows without SciPy: the few operations inference needs.

A :class:`Csr` holds rows in SciPy's CSR layout (``data``, ``indices``, ``indptr``), so training code wraps one
in ``scipy.sparse.csr_matrix`` at no cost (:meth:`Csr.to_scipy`) and inference multiplies it by dense weights
(:meth:`Csr.dot`).

The two inner loops, TF-IDF rows and the product, run in C when the extension was built (:mod:`triage.kernels`)
and in NumPy otherwise; both give the same arrays (``tests/test_kernels.py``).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .kernels import compiled

#: Non-zeros multiplied at a time by :meth:`Csr.dot`: its scratch array (this many weight rows) stays in cache.
_DOT_CHUNK = 4096


class Csr(NamedTuple):
    """Rows of a sparse matrix: row ``i`` is ``data[indptr[i]:indptr[i+1]]`` at columns ``indices[...]``."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_rows, self.n_cols

    def row_lengths(self) -> np.ndarray:
        """Non-zeros in each row."""
        return np.diff(self.indptr)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(columns, values)`` of row ``i``."""
        s, e = self.indptr[i], self.indptr[i + 1]
        return self.indices[s:e], self.data[s:e]

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """``self @ weights`` for a dense ``(n_cols, k)`` array, as a dense ``(n_rows, k)`` array."""
        if compiled is None or weights.ndim != 2 or weights.shape[0] != self.n_cols or not weights.shape[1]:
            return self._dot_numpy(weights)
        out = np.zeros((self.n_rows, weights.shape[1]))
        compiled.csr_dot(_f64(self.data), _i64(self.indices), _i64(self.indptr), _f64(weights), weights.shape[1], out)
        return out

    def _dot_numpy(self, weights: np.ndarray) -> np.ndarray:
        """:meth:`dot` in NumPy: the weight rows of a few thousand non-zeros at a time are gathered into one
        reused buffer (small enough to stay in the CPU cache), scaled, and summed per row."""
        out = np.zeros((self.n_rows, weights.shape[1]))
        nnz = len(self.data)
        if not nnz:
            return out
        rows = np.repeat(np.arange(self.n_rows), self.row_lengths())
        buf = np.empty((min(nnz, _DOT_CHUNK), weights.shape[1]))
        for s in range(0, nnz, _DOT_CHUNK):
            e = min(s + _DOT_CHUNK, nnz)
            terms = buf[: e - s]
            np.take(weights, self.indices[s:e], axis=0, out=terms)
            terms *= self.data[s:e, None]
            r = rows[s:e]
            starts = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
            out[r[starts]] += np.add.reduceat(terms, starts, axis=0)
        return out

    def to_scipy(self) -> Any:
        """The same rows as a ``scipy.sparse.csr_matrix`` (training and tests; imports SciPy)."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def tfidf_rows(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], idf: np.ndarray, sublinear: bool) -> Csr:
    """L2-normalised TF-IDF rows from one ``(row, col)`` pair per occurrence (sorted columns, no duplicates)."""
    if compiled is None:
        return _tfidf_rows_numpy(rows, cols, shape, idf, sublinear)
    n_rows, n_cols = shape
    data, indices = np.empty(len(rows)), np.empty(len(rows), dtype=np.int64)
    indptr = np.empty(n_rows + 1, dtype=np.int64)
    nnz = compiled.tfidf(_i64(rows), _i64(cols), n_rows, n_cols, _f64(idf), bool(sublinear), data, indices, indptr)
    return Csr(data[:nnz], indices[:nnz], indptr, n_cols)


def _tfidf_rows_numpy(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], idf: np.ndarray,
                      sublinear: bool) -> Csr:
    """:func:`tfidf_rows` in NumPy: occurrences are counted with one vectorised sort of ``row * n_cols + col``
    keys."""
    n_rows, n_cols = shape
    keys = np.sort(rows * n_cols + cols, kind="stable")  # runs of ascending rows: far faster than quicksort
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
    return Csr(data, c, indptr, n_cols)


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)
