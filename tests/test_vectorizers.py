"""The fast vectorizers give exactly the features of scikit-learn's (or of a plain reference loop)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from triage.sparse import tfidf_rows
from triage.text import normalize_many
from triage.vectorizers import CharNgramTfidf, WordTfidf

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def texts():
    """600 letters of the training corpus, plus a text with no words at all."""
    rows = pd.read_csv(ROOT / "data" / "train.csv", dtype=str, keep_default_na=False)["text"].tolist()[:600]
    return normalize_many(rows) + ["。。。"]


@pytest.fixture(scope="module")
def segmenter(model):
    return model.segmenter


def _aligned(ours: sp.csr_matrix, our_names, theirs: sp.csr_matrix, their_names) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices as dense arrays with columns in the same (sorted-name) order."""
    assert sorted(our_names) == sorted(their_names)
    return ours.toarray()[:, np.argsort(our_names)], theirs.toarray()[:, np.argsort(their_names)]


@pytest.mark.parametrize("ngrams,min_df", [((1, 2), 2), ((1, 3), 1), ((2, 2), 1)])
def test_char_ngrams_equal_scikit_learn(texts, ngrams, min_df):
    ours = CharNgramTfidf(ngram_range=ngrams, min_df=min_df).fit(texts)
    ref = TfidfVectorizer(analyzer="char", ngram_range=ngrams, min_df=min_df, sublinear_tf=True).fit(texts)
    a, b = _aligned(ours.transform(texts[::-1]), ours.get_feature_names_out(),
                    ref.transform(texts[::-1]), ref.get_feature_names_out())
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_word_block_equals_scikit_learn_and_head_block_a_plain_loop(texts, segmenter):
    ours = WordTfidf(tokenizer=segmenter, min_df=2, head_chars=12).fit(texts)
    X = ours.transform(texts)
    v = len(ours.vocabulary_)
    ref = TfidfVectorizer(tokenizer=segmenter, token_pattern=None, min_df=2, sublinear_tf=True).fit(texts)
    a, b = _aligned(X[:, :v], ours.get_feature_names_out()[:v], ref.transform(texts), ref.get_feature_names_out())
    np.testing.assert_allclose(a, b, atol=1e-12)

    def head(text):  # tokens that start within the first 12 characters of the segmented text
        out, pos = [], 0
        for t in segmenter(text.lower()):
            if pos >= 12:
                break
            out.append(t)
            pos += len(t)
        return out

    head_ref = TfidfVectorizer(tokenizer=head, token_pattern=None, sublinear_tf=True, vocabulary=ours.vocabulary_)
    np.testing.assert_allclose(X[:, v:].toarray(), head_ref.fit(texts).transform(texts).toarray(), atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), max_size=60), sublinear=st.booleans())
def test_tfidf_rows_counts_and_normalises_like_scipy(pairs, sublinear):
    rows = np.array([r for r, _ in pairs], dtype=np.int64)
    cols = np.array([c for _, c in pairs], dtype=np.int64)
    idf = np.linspace(1.0, 3.0, 8)
    got = tfidf_rows(rows, cols, (6, 8), idf, sublinear).to_scipy()
    counts = sp.coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(6, 8)).toarray()
    tf = np.where(counts > 0, np.log(np.where(counts > 0, counts, 1)) + 1, 0) if sublinear else counts
    w = tf * idf
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(got.toarray(), np.divide(w, norms, out=np.zeros_like(w), where=norms > 0), atol=1e-12)
    assert got.has_sorted_indices or all(np.all(np.diff(got.indices[a:b]) > 0) for a, b in zip(got.indptr, got.indptr[1:]))
