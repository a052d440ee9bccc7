"""The compiled inner loops (``triage._kernels``) give the arrays of their NumPy/Python counterparts, refuse what
would read out of bounds, and leave every decision of the model unchanged.

Without the extension (a machine with no C compiler) these tests skip, unless ``TRIAGE_REQUIRE_KERNELS=1`` (CI),
where its absence is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import features, sparse
from triage.kernels import compiled
from triage.sparse import Csr

ROOT = Path(__file__).resolve().parents[1]

if compiled is None:
    if os.environ.get("TRIAGE_REQUIRE_KERNELS") == "1":
        raise RuntimeError("TRIAGE_REQUIRE_KERNELS=1 but triage._kernels is not built; run `pip install -e .`.")
    pytest.skip("triage._kernels is not built (no C compiler at install, or TRIAGE_KERNELS=numpy)",
                allow_module_level=True)


def _numpy_paths(fn):
    """``fn()`` with the NumPy/Python code paths."""
    saved = sparse.compiled, features.compiled
    sparse.compiled = features.compiled = None
    try:
        return fn()
    finally:
        sparse.compiled, features.compiled = saved


def _same_rows(a: Csr, b: Csr) -> None:
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-15, atol=0)


pairs = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 300)), max_size=400)


@settings(max_examples=200, deadline=None)
@given(pairs=pairs, sublinear=st.booleans(), rows_in_order=st.booleans())
def test_tfidf_equals_numpy(pairs, sublinear, rows_in_order):
    """Rows in any order (grouped by the kernel) or already in order (as the feature extractors give them)."""
    if rows_in_order:
        pairs = sorted(pairs, key=lambda p: p[0])
    rows = np.array([r for r, _ in pairs], dtype=np.int64)
    cols = np.array([c for _, c in pairs], dtype=np.int64)
    idf = np.random.default_rng(len(pairs)).uniform(1.0, 5.0, 301)
    got = sparse.tfidf_rows(rows, cols, (7, 301), idf, sublinear)
    want = sparse._tfidf_rows_numpy(rows, cols, (7, 301), idf, sublinear)
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)  # sorted within rows, as NumPy's
    np.testing.assert_allclose(got.data, want.data, rtol=1e-15, atol=0)
    assert got.n_cols == want.n_cols == 301


def test_tfidf_counts_many_repeats_and_long_rows():
    """Counts past the kernel's log table, and rows long enough for its radix sort, over a wide vocabulary."""
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(3), [5000, 40, 1])
    cols = np.concatenate([rng.integers(0, 1 << 20, 4700), np.full(300, 7), rng.integers(0, 1 << 20, 41)])
    idf = rng.uniform(1, 9, 1 << 20)
    got = sparse.tfidf_rows(rows, cols, (4, 1 << 20), idf, True)
    want = sparse._tfidf_rows_numpy(rows, cols, (4, 1 << 20), idf, True)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-15, atol=0)


def test_tfidf_rows_whose_weights_are_all_zero_stay_zero():
    """A row with only zero-idf columns has norm 0: left unscaled, never 0/0."""
    idf = np.array([0.0, 0.0, 2.0])
    got = sparse.tfidf_rows(np.array([0, 0, 1]), np.array([0, 1, 2]), (2, 3), idf, True)
    np.testing.assert_array_equal(got.data, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(got.data, sparse._tfidf_rows_numpy(*[np.array([0, 0, 1]), np.array([0, 1, 2])],
                                                                     (2, 3), idf, True).data)


@settings(max_examples=100, deadline=None)
@given(pairs=pairs, k=st.integers(1, 45))
def test_dot_equals_numpy(pairs, k):
    rows = np.array([r for r, _ in pairs], dtype=np.int64)
    cols = np.array([c for _, c in pairs], dtype=np.int64)
    X = sparse.tfidf_rows(rows, cols, (7, 301), np.ones(301), False)
    W = np.random.default_rng(k).normal(size=(301, k))
    np.testing.assert_allclose(X.dot(W), X._dot_numpy(W), rtol=0, atol=1e-13)


def test_dot_of_a_slice_of_weights_and_of_no_rows():
    W = np.arange(40.0).reshape(10, 4)
    X = Csr(np.array([1.0, 2.0]), np.array([0, 3]), np.array([0, 2, 2]), 5)
    np.testing.assert_array_equal(X.dot(W[5:]), [[20 + 2 * 32, 21 + 2 * 33, 22 + 2 * 34, 23 + 2 * 35], [0, 0, 0, 0]])
    empty = Csr(np.empty(0), np.empty(0, np.int64), np.zeros(1, np.int64), 5)
    assert X.dot(W[5:]).shape == (2, 4) and empty.dot(W[5:]).shape == (0, 4)


@pytest.mark.parametrize("bad", ["column", "indptr"])
def test_out_of_range_indices_raise_instead_of_reading_memory(bad):
    W = np.ones((5, 3))
    indices = np.array([0, 5 if bad == "column" else 1])
    indptr = np.array([0, 2 if bad == "column" else 9])
    with pytest.raises(ValueError, match="out of range"):
        Csr(np.ones(2), indices, indptr, 5).dot(W)
    with pytest.raises(ValueError, match="out of range"):
        sparse.tfidf_rows(np.array([0, 0]), np.array([1, 5]), (1, 5), np.ones(5), True)
    with pytest.raises(ValueError, match="out of range"):
        sparse.tfidf_rows(np.array([0, 1]), np.array([1, 2]), (1, 5), np.ones(5), True)


def test_wrong_buffers_are_refused():
    with pytest.raises(TypeError, match="float64"):
        compiled.csr_dot(np.ones(1, np.float32), np.zeros(1, np.int64), np.array([0, 1]), np.ones((1, 1)), 1,
                         np.zeros((1, 1)))
    with pytest.raises(ValueError, match="sizes"):
        compiled.csr_dot(np.ones(1), np.zeros(1, np.int64), np.array([0, 1]), np.ones((1, 2)), 2, np.zeros((2, 2)))
    with pytest.raises(TypeError):
        compiled.tfidf(np.zeros(1, np.int32), np.zeros(1, np.int64), 1, 1, np.ones(1), True, np.empty(1),
                       np.empty(1, np.int64), np.empty(2, np.int64))


VOCAB = ["东坝", "派出所", "没人管的事", "x", "我们"]


def _words() -> features.WordFeatures:
    return features.WordFeatures(str.split, VOCAB, np.ones(len(VOCAB)))


@settings(max_examples=200, deadline=None)
@given(docs=st.lists(st.lists(st.sampled_from(["我", "东坝", "派出所", "民警", "x", "没人管的事", "我们", "\0x"]),
                              max_size=30), max_size=8),
       head=st.sampled_from([None, 0, 1, 3, 12]))
def test_token_ids_equal_python(docs, head):
    """Short words through the packed table, long ones through the dict, unknown ones -1, heads alike."""
    words = _words()
    got = features.token_ids(docs, words.vocabulary, head, words.short_word_table())
    want = _numpy_paths(lambda: features.token_ids(docs, words.vocabulary, head))
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)


def test_token_ids_refuse_non_string_tokens():
    words = _words()
    with pytest.raises(TypeError, match="str"):
        features.token_ids([["东坝", 3]], words.vocabulary, 2, words.short_word_table())


@pytest.fixture(scope="module")
def letters():
    """The dev letters and 1,000 real messages when ../shared is there (texts read at run time, never stored)."""
    texts = pd.read_csv(ROOT / "data" / "dev.csv", dtype=str, keep_default_na=False)["text"].tolist()
    real = Path(os.environ.get("TRIAGE_REAL_DATASET", ROOT.parent / "shared" / "datasets" / "gov-messages-2020"))
    if (real / "unlabelled.csv").exists():
        df = pd.read_csv(real / "unlabelled.csv", dtype=str, keep_default_na=False, nrows=1000)
        texts += (df["title"] + "\n" + df["text"]).tolist()
    return texts


def test_the_default_model_decides_alike_with_and_without_the_kernels(letters):
    from triage import load_model

    model = load_model()
    fast = model.classify_table(letters)
    _, unit_p_fast = model.heads(model.features(letters[:300]), None)
    slow = _numpy_paths(lambda: model.classify_table(letters))
    _, unit_p_slow = _numpy_paths(lambda: model.heads(model.features(letters[:300]), None))
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=0, atol=1e-9)
    np.testing.assert_allclose(unit_p_fast, unit_p_slow, rtol=0, atol=1e-12)
    assert (fast["category"].notna()).sum() > 0.9 * len(letters)


chars = st.sampled_from(list("东坝镇派出所民警不办事。，AbZ 1") + ["\U00020000", "İ", "\u0301"])


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(chars, max_size=40), max_size=6), ngrams=st.sampled_from([(1, 1), (1, 2), (2, 3), (1, 3)]))
def test_char_grams_equal_numpy(texts, ngrams):
    """Vocabularies of every n-gram of a fixed text, looked up in any text (unknown grams, astral characters,
    boundaries between texts, texts shorter than n)."""
    seen = "东坝镇派出所民警不办事ab1\U00020000i̇"
    lo, hi = ngrams
    vocab = [np.unique(features.all_grams(*features.code_points([seen]), n)[0]) for n in range(lo, hi + 1)]
    chars_ = features.CharFeatures(ngrams, vocab, np.linspace(1, 2, sum(map(len, vocab))))
    _same_rows(chars_.transform(texts), _numpy_paths(lambda: chars_.transform(texts)))


@pytest.mark.parametrize("size", [0, 1, 5000])
def test_tables_filled_in_c_find_what_numpy_filled_ones_find(size):
    rng = np.random.default_rng(size)
    vocab = np.unique(rng.integers(0, 1 << 42, size))
    probe = np.concatenate([vocab, rng.integers(0, 1 << 42, 3000)])
    found = []
    for fill in ("C", "NumPy"):
        index = features.VocabIndex(vocab, 2)
        if fill == "NumPy":
            index._hash = None
            _numpy_paths(index.hash_table)
        index._table = index.hash_table()
        found.append(index._hashed(probe))
    np.testing.assert_array_equal(found[0], found[1])
    np.testing.assert_array_equal(found[0][: len(vocab)], np.arange(len(vocab)))


def test_char_grams_of_texts_exactly_n_long():
    vocab = [np.unique(features.all_grams(*features.code_points(["东坝镇"]), n)[0]) for n in (1, 2, 3)]
    chars_ = features.CharFeatures((1, 3), vocab, np.ones(sum(map(len, vocab))))
    texts = ["东", "东坝", "东坝镇"] * 3000  # past the size from which the C kernel runs without built tables
    got = chars_.transform(texts)
    assert got.row_lengths()[:3].tolist() == [1, 3, 6]
    _same_rows(got, _numpy_paths(lambda: chars_.transform(texts)))


def test_the_numpy_paths_can_be_chosen():
    import subprocess
    import sys

    code = "from triage.kernels import KERNELS; print(KERNELS)"
    env = {**os.environ, "TRIAGE_KERNELS": "numpy"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "NumPy"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TRIAGE_KERNELS": ""}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "C"


def test_lookup_tables_are_not_pickled_and_are_built_again(model):
    """A model sent to workers (dask, spawned processes) carries no tables; the copy builds its own and agrees."""
    import pickle

    before = len(pickle.dumps(model))
    model.build_lookup_tables()
    assert model.words._segmenter is not None and model.chars.tables_built
    copy = pickle.loads(pickle.dumps(model))
    assert len(pickle.dumps(model)) == before
    assert copy.words._segmenter is None and copy.words._short is None and not copy.chars.tables_built
    texts = ["东坝派出所的民警骂人", "医保报销四个月没到账"] * 2000  # large enough to build the tables
    pd.testing.assert_frame_equal(copy.classify_table(texts), model.classify_table(texts))
    assert copy.chars.tables_built and copy.words._segmenter is not None
