"""The scikit-learn pieces: text features and the classifiers of the two heads."""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from .registry import Registry
from .text import Segmenter, normalize_many
from .vectorizers import CharNgramTfidf, WordTfidf

#: Defaults chosen by cross-validation (see README, "Benchmarks").
DEFAULT_PARAMS: dict[str, Any] = {
    "char_ngrams": (1, 2),
    "min_df": 2,
    "max_chars": 3000,
    "head_chars": 40,
    "classifier": "svm",
    "C": 0.5,
    "class_weight": "balanced",
    "unit_feature_weight": 0.2,
    "unit_C": 1.0,
    "unit_classifier": "svm",
    "real_weight": 1.0,
    "mention_override": 1.0,
    "work_style_threshold": 0.5,
}


class Truncate(BaseEstimator, TransformerMixin):
    """Keep the first ``max_chars`` characters of each (normalised) text; long tails add noise and time."""

    def __init__(self, *, max_chars: int | None = 3000) -> None:
        self.max_chars = max_chars

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [t[: self.max_chars] for t in X] if self.max_chars else list(X)


def build_features(segmenter: Segmenter, params: dict[str, Any] | None = None) -> Pipeline:
    """Text → sparse features: normalise, truncate, then word (whole text and head) and character TF-IDF."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    parts = [("word", WordTfidf(tokenizer=segmenter, min_df=p["min_df"], head_chars=p["head_chars"]))]
    if p["char_ngrams"]:
        parts.append(("char", CharNgramTfidf(ngram_range=tuple(p["char_ngrams"]), min_df=p["min_df"], sublinear_tf=True)))
    return Pipeline(
        [
            ("normalize", FunctionTransformer(normalize_many)),
            ("truncate", Truncate(max_chars=p["max_chars"])),
            ("tfidf", FeatureUnion(parts)),
        ]
    )


def build_classifier(params: dict[str, Any] | None = None) -> BaseEstimator:
    """A linear classifier with calibrated probabilities."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    if p["classifier"] == "logreg":
        return LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=2000)
    if p["classifier"] == "svm":
        svm = LinearSVC(C=p["C"], class_weight=p["class_weight"])
        return CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False)
    raise ValueError(f"classifier must be 'svm' or 'logreg'; got {p['classifier']!r}")


def fit_classifier(X, y, params: dict[str, Any] | None = None, sample_weight=None) -> BaseEstimator:
    """Fit :func:`build_classifier`; labels too rare for calibration's folds fall back to logistic regression."""
    _, counts = np.unique(y, return_counts=True)
    p = {**DEFAULT_PARAMS, **(params or {})}
    if p["classifier"] == "svm" and counts.min() < 3:
        p["classifier"] = "logreg"
    return build_classifier(p).fit(X, y, sample_weight=sample_weight)


def linear_coef(clf: BaseEstimator) -> np.ndarray | None:
    """Per-class weights of a fitted linear classifier (also inside calibration); ``None`` if it has none."""
    if hasattr(clf, "coef_"):
        coef = clf.coef_
    elif hasattr(clf, "calibrated_classifiers_"):
        coef = np.mean([c.estimator.coef_ for c in clf.calibrated_classifiers_], axis=0)
    else:
        return None
    if coef.shape[0] == 1:  # binary problems keep one row; make it one per class
        coef = np.vstack([-coef[0], coef[0]])
    return coef


class LinearProba:
    """Vectorised ``predict_proba`` of a fitted ``CalibratedClassifierCV(LinearSVC, method="sigmoid",
    ensemble=False)``: the same numbers without scikit-learn's per-class validation, which costs milliseconds a
    call and dominated single-letter latency. :meth:`of` returns ``None`` for any other classifier, which then
    keeps its own ``predict_proba``; tests check both give the same probabilities.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        self.coef_t = coef.T.copy()
        self.intercept = intercept
        self.a = a
        self.b = b

    @classmethod
    def of(cls, clf: BaseEstimator) -> LinearProba | None:
        cals = getattr(clf, "calibrated_classifiers_", None)
        if not cals or len(cals) != 1 or getattr(cals[0], "method", None) != "sigmoid":
            return None
        cc = cals[0]
        est = cc.estimator
        if not isinstance(est, LinearSVC) or len(cc.classes) < 3 or list(est.classes_) != list(cc.classes):
            return None
        if not all(hasattr(c, "a_") and hasattr(c, "b_") for c in cc.calibrators):
            return None
        return cls(est.coef_, est.intercept_, np.array([c.a_ for c in cc.calibrators]),
                   np.array([c.b_ for c in cc.calibrators]))

    def __call__(self, X) -> np.ndarray:
        return self.from_decision(np.asarray(X @ self.coef_t))

    def from_decision(self, d: np.ndarray) -> np.ndarray:
        """Probabilities from ``X @ coef.T`` computed elsewhere (see :class:`BothHeads`)."""
        d = d + self.intercept
        proba = expit(-(d * self.a + self.b))
        total = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1 / proba.shape[1]), where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba


class BothHeads:
    """Both heads' probabilities with one pass over the text features: the unit head's weights for them sit beside
    the category head's in one matrix, and only its few registry features are multiplied apart. The numbers of
    calling each :class:`LinearProba` on its own features (up to the order of a floating-point sum), a third cheaper.
    """

    def __init__(self, category: LinearProba, unit: LinearProba, n_text_features: int) -> None:
        self.category = category
        self.unit = unit
        self.n_cat = category.coef_t.shape[1]
        self.coef_t = np.hstack([category.coef_t, unit.coef_t[:n_text_features]])
        self.unit_extra_t = unit.coef_t[n_text_features:]

    def __call__(self, X, unit_features) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(X @ self.coef_t)
        unit_d = d[:, self.n_cat :] + np.asarray(unit_features @ self.unit_extra_t)
        return self.category.from_decision(d[:, : self.n_cat]), self.unit.from_decision(unit_d)


class UnitFeatures(BaseEstimator, TransformerMixin):
    """Registry evidence as features: for each unit, named in the text / named first / its service words present.

    Input: normalised texts. The registry travels with the fitted transformer, so a model knows its units.
    """

    def __init__(self, *, registry: Registry | None = None, weight: float = 1.0) -> None:
        self.registry = registry
        self.weight = weight

    def fit(self, X, y=None):
        self.units_ = list(self.registry.ids)
        self.index_ = {u: i for i, u in enumerate(self.units_)}
        return self

    @property
    def n_features_(self) -> int:
        """Columns of the output: named, named first, and service words present, for each unit."""
        return 3 * len(self.units_)

    def transform(self, X) -> sp.csr_matrix:
        return self.from_hits([(self.registry.mentions(t), self.registry.service_owners(t)) for t in X])

    def from_hits(self, hits) -> sp.csr_matrix:
        """Features from ``(mentions, service owners)`` already found in each text (saves a second scan)."""
        n = len(self.units_)
        rows, cols = [], []
        for r, (mentions, service_owners) in enumerate(hits):
            seen = set()
            for k, m in enumerate(mentions):
                i = self.index_.get(m.unit)
                if i is None:
                    continue
                if k == 0:
                    seen.add(n + i)
                seen.add(i)
            for owners in service_owners:
                for u in owners:
                    if u in self.index_:
                        seen.add(2 * n + self.index_[u])
            rows.extend([r] * len(seen))
            cols.extend(seen)
        data = np.full(len(rows), self.weight, dtype=np.float64)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(hits), self.n_features_))
