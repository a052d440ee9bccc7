"""The scikit-learn pieces: text features and the classifiers of the two heads."""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from .features import UnitHitFeatures
from .linear import LinearHead
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


def export_head(clf: BaseEstimator) -> tuple[LinearHead, np.ndarray]:
    """A fitted classifier of :func:`fit_classifier` as plain data: its :class:`~triage.linear.LinearHead` and its
    weights (features × decision columns), which reproduce its ``predict_proba``."""
    classes = [str(c) for c in clf.classes_]
    if isinstance(clf, LogisticRegression):
        kind = "binary_logistic" if len(classes) == 2 else "softmax"
        return LinearHead(classes, kind, np.asarray(clf.intercept_, dtype=np.float64)), clf.coef_.T
    cals = getattr(clf, "calibrated_classifiers_", None)
    if cals and len(cals) == 1 and getattr(cals[0], "method", None) == "sigmoid":
        cc = cals[0]
        est = cc.estimator
        if isinstance(est, LinearSVC) and list(est.classes_) == list(cc.classes):
            kind = "binary_sigmoid" if len(classes) == 2 else "ovr_sigmoid"
            a = np.array([c.a_ for c in cc.calibrators], dtype=np.float64)
            b = np.array([c.b_ for c in cc.calibrators], dtype=np.float64)
            return LinearHead(classes, kind, np.asarray(est.intercept_, dtype=np.float64), a, b), est.coef_.T
    raise TypeError(f"Cannot export a {type(clf).__name__} as a linear head; use the classifiers of build_classifier.")


class UnitFeatures(BaseEstimator, TransformerMixin):
    """Registry evidence as features: for each unit, named in the text / named first / its service words present.

    Input: normalised texts. The registry travels with the fitted transformer, so a model knows its units.
    """

    def __init__(self, *, registry: Registry | None = None, weight: float = 1.0) -> None:
        self.registry = registry
        self.weight = weight

    def fit(self, X, y=None):
        self.units_ = list(self.registry.ids)
        return self

    def transform(self, X) -> sp.csr_matrix:
        return self.from_hits([(self.registry.mentions(t), self.registry.service_owners(t)) for t in X])

    def plain(self) -> UnitHitFeatures:
        return UnitHitFeatures(list(self.units_), float(self.weight))

    def from_hits(self, hits) -> sp.csr_matrix:
        """Features from ``(mentions, service owners)`` already found in each text (saves a second scan)."""
        return self.plain().from_hits(hits).to_scipy()
