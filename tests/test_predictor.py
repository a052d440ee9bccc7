"""The inference model as data: it decides as the fitted scikit-learn pipeline does, and loads no code.

The reference is the fitted :class:`~triage.model.TriageModel` itself: its scikit-learn feature pipeline and
its classifiers' own ``predict_proba``. A :class:`Predictor` saved to disk and loaded back must give the same
labels and the same probabilities (to 1e-9).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from triage import Predictor, load_model, paths
from triage.artifacts import save
from triage.linear import expit
from triage.model import TriageModel
from triage.pipeline import DEFAULT_PARAMS, export_head
from triage.sparse import Csr
from triage.text import normalize_many

ROOT = Path(__file__).resolve().parents[1]


class SklearnHeads:
    """Stands in for a predictor's heads: scikit-learn's own ``predict_proba`` on scikit-learn matrices."""

    def __init__(self, fitted: TriageModel) -> None:
        self.fitted = fitted
        self.unit = fitted.unit_clf_

    def __call__(self, blocks: list[Csr], unit_features: Csr | None):
        X = sp.hstack([b.to_scipy() for b in blocks], format="csr")
        cat = self.fitted.category_clf_.predict_proba(X) if self.fitted.category_clf_ is not None else None
        unit = None
        if self.fitted.unit_clf_ is not None:
            unit = self.fitted.unit_clf_.predict_proba(sp.hstack([X, unit_features.to_scipy()], format="csr"))
        return cat, unit


def assert_decides_like_scikit_learn(fitted: TriageModel, loaded, texts: list[str]) -> None:
    """Features equal the fitted pipeline's; labels equal and probabilities within 1e-9 of scikit-learn's."""
    norms = normalize_many(texts)
    keep = [i for i, t in enumerate(norms) if t]
    texts, norms = [texts[i] for i in keep], [norms[i] for i in keep]
    blocks = loaded.features(norms)
    X = sp.hstack([b.to_scipy() for b in blocks], format="csr")
    assert (X != fitted.features_.transform(texts)).nnz == 0
    ours = loaded._decide(norms)
    reference = Predictor.__new__(Predictor)
    reference.__dict__.update(loaded.__dict__, heads=SklearnHeads(fitted))
    theirs = reference._decide(norms)
    assert ours.category == theirs.category
    assert ours.unit == theirs.unit and ours.unit_source == theirs.unit_source
    for a, b in ((ours.cat_p, theirs.cat_p), (ours.unit_p, theirs.unit_p)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    assert ours.review_category.tolist() == theirs.review_category.tolist()
    assert ours.review_unit.tolist() == theirs.review_unit.tolist()


@pytest.fixture(scope="module")
def fitted(parts, tiny_csv) -> TriageModel:
    registry, seg, cats = parts
    df = pd.read_csv(tiny_csv)
    return TriageModel(segmenter=seg, registry=registry, categories=cats).fit(df.text, df.category, df.unit)


def _dev_texts() -> list[str]:
    return pd.read_csv(paths.DEV_CSV, dtype=str, keep_default_na=False)["text"].tolist()


def test_a_saved_and_loaded_predictor_decides_like_the_fitted_pipeline(fitted, tmp_path):
    save(fitted.predictor_, tmp_path / "m", {})
    loaded = load_model(tmp_path / "m")
    assert_decides_like_scikit_learn(fitted, loaded, _dev_texts() + ["asdfgh 12345", "。。。"])
    text = "东坝派出所的民警骂人, 电话13812345678"
    assert loaded.classify(text).to_dict() == fitted.classify(text).to_dict()


@pytest.mark.parametrize("make, n_classes", [
    (lambda: CalibratedClassifierCV(LinearSVC(C=0.5), method="sigmoid", cv=3, ensemble=False), 4),
    (lambda: CalibratedClassifierCV(LinearSVC(C=0.5), method="sigmoid", cv=3, ensemble=False), 2),
    (lambda: LogisticRegression(C=2.0, max_iter=2000), 4),
    (lambda: LogisticRegression(C=2.0, max_iter=2000), 2),
])
def test_every_kind_of_head_gives_scikit_learns_probabilities(make, n_classes):
    rng = np.random.default_rng(n_classes)
    X = sp.random(300, 40, density=0.2, format="csr", random_state=1)
    y = np.array([f"c{k}" for k in rng.integers(0, n_classes, 300)])
    clf = make().fit(X, y)
    head, weights = export_head(clf)
    assert head.classes == list(clf.classes_)
    csr = Csr(X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64), X.shape[1])
    got = head.proba(csr.dot(np.ascontiguousarray(weights)))
    np.testing.assert_allclose(got, clf.predict_proba(X), rtol=0, atol=1e-12)


def test_an_unknown_classifier_is_not_exported():
    from sklearn.naive_bayes import MultinomialNB

    clf = MultinomialNB().fit(np.eye(3), ["a", "b", "c"])
    with pytest.raises(TypeError, match="Cannot export a MultinomialNB"):
        export_head(clf)


def test_expit_is_the_logistic_function_without_overflow():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    with np.errstate(over="raise"):
        got = expit(x)
    from scipy.special import expit as reference

    np.testing.assert_allclose(got, reference(x), rtol=1e-15, atol=1e-300)


def test_csr_dot_sums_rows_across_chunks(monkeypatch):
    import triage.sparse

    monkeypatch.setattr(triage.sparse, "_DOT_CHUNK", 7)  # rows split across chunks must still add up
    X = sp.random(50, 30, density=0.3, format="csr", random_state=3)
    X = sp.vstack([X[:5], sp.csr_matrix((1, 30)), X[5:]], format="csr")  # an empty row
    W = np.random.default_rng(0).normal(size=(30, 4))
    csr = Csr(X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64), 30)
    np.testing.assert_allclose(csr.dot(W), X @ W, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_the_default_configuration_decides_like_scikit_learn_on_dev_and_real_messages(parts, tmp_path):
    """The default parameters on the whole corpus: dev, test and every real message, to 1e-9."""
    from triage.real_letters import default_dataset_dir, read_dataset

    registry, seg, cats = parts
    train = pd.read_csv(paths.TRAIN_CSV, dtype=str, keep_default_na=False)
    fitted = TriageModel(segmenter=seg, registry=registry, categories=cats, params=dict(DEFAULT_PARAMS)).fit(
        train.text, train.category, train.unit)
    save(fitted.predictor_, tmp_path / "m", {})
    loaded = load_model(tmp_path / "m")
    texts = _dev_texts() + pd.read_csv(paths.DATA_DIR / "test.csv", dtype=str, keep_default_na=False)["text"].tolist()
    dataset = default_dataset_dir()
    if dataset.is_dir():
        texts += read_dataset(dataset)["text"].tolist()
    assert len(texts) > 700
    assert_decides_like_scikit_learn(fitted, loaded, texts)


def test_loading_runs_no_code_and_imports_no_scikit_learn(trained_dir, tmp_path):
    """A model directory holds JSON and plain arrays: loading it imports neither scikit-learn, SciPy nor pandas,
    and an object array (a pickle in disguise) is refused even with a matching checksum."""
    script = (
        "import sys, triage; m = triage.load_model(sys.argv[1]); m.classify('东坝派出所的民警骂人');"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'sklearn', 'scipy', 'pandas', 'joblib'}))"
    )
    out = subprocess.run([sys.executable, "-c", script, str(trained_dir)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().replace("'", '"')) == []


def test_an_object_array_is_refused_even_when_its_checksum_matches(trained_dir, tmp_path):
    import hashlib
    import shutil

    from triage.artifacts import MANIFEST_FILE, combined_sha256
    from triage.errors import ModelIntegrityError

    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    target = copy / "arrays" / "word_idf.npy"
    np.save(target, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    files = manifest["artifact"]["files"]
    files["arrays/word_idf.npy"] = {"sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                                    "bytes": target.stat().st_size}
    manifest["artifact"]["sha256"] = combined_sha256(files)
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="not a plain array"):
        load_model(copy)


def test_to_dict_is_asdict(model):
    from dataclasses import asdict

    p = model.classify("东坝派出所的民警骂人, 医保报销四个月没到账")
    assert p.to_dict() == asdict(p) and p.evidence and p.alternatives and p.unit_alternatives


@pytest.mark.parametrize("n", [1, 2, 3])
def test_vocabulary_lookups_agree_with_and_without_the_hash_table(n):
    from triage.features import VocabIndex

    rng = np.random.default_rng(n)
    top = 0x110000 if n == 1 else 1 << (21 * n)  # single characters are code points
    vocab = np.unique(rng.integers(0, top, 5000))
    keys = np.concatenate([vocab[rng.integers(0, len(vocab), 30000)], rng.integers(0, top, 30000)])
    searched = VocabIndex(vocab, n)._search(keys)
    index = VocabIndex(vocab, n)
    assert (index(keys) == searched).all() and index._table is not None  # large: the table is built
    assert (index(keys[:10]) == searched[:10]).all()  # and then used for small look-ups too
    assert (searched[:30000] >= 0).all() and (vocab[searched[searched >= 0]] == keys[searched >= 0]).all()
