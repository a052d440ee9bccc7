"""Training: :class:`TriageModel`, the scikit-learn estimator that fits both heads and hands inference to a
:class:`~triage.predictor.Predictor` built from what it learnt (``predictor_``), the object a model directory
holds."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .linear import Heads
from .pipeline import (
    DEFAULT_PARAMS,
    UnitFeatures,
    build_features,
    export_head,
    fit_classifier,
)
from .prediction import CategoryInfo, Prediction
from .predictor import DEFAULT_THRESHOLDS, Predictor
from .registry import UNKNOWN, Registry
from .text import MAX_TEXT_CHARS, Segmenter

#: Below this many training texts every term is kept (``min_df=1``).
SMALL_CORPUS = 100


class TriageModel(BaseEstimator):
    """Category head + unit head over shared text features.

    Parameters
    ----------
    segmenter : Segmenter
        Word segmenter with the domain dictionary; saved inside the model.
    registry : Registry
        The county's units. Names found in a text decide the unit (``mention``); otherwise a classifier
        infers it from the service described (``inferred``), or says ``unknown``.
    categories : sequence of CategoryInfo, optional
        Display data (character, name) for category ids.
    params : dict, optional
        Feature and classifier settings (see :data:`triage.pipeline.DEFAULT_PARAMS`).
    thresholds : dict, optional
        ``{"category": p, "unit": p}``: below these scores a prediction needs review.
    """

    def __init__(
        self,
        *,
        segmenter: Segmenter | None = None,
        registry: Registry | None = None,
        categories: Sequence[CategoryInfo] = (),
        params: dict[str, Any] | None = None,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.registry = registry
        self.categories = categories
        self.params = params
        self.thresholds = thresholds

    # -- training ----------------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], categories: Sequence[str | None] | None = None,
            units: Sequence[str | None] | None = None, sample_weight: Sequence[float] | None = None):
        """Fit the heads that have labels. Returns ``self``.

        A label may be ``None`` for a text that is labelled for the other head only: each head learns from the
        texts labelled for it, and the text features from all of them. ``sample_weight`` weighs each text in the
        category head (e.g. real letters above the written corpus).
        """
        if isinstance(texts, str):
            raise TypeError("Iterable over raw text documents expected, string object received.")
        if self.segmenter is None or self.registry is None:
            raise ValueError("TriageModel needs a segmenter and a registry; build one with triage.train.")
        texts = list(texts)
        categories = None if categories is None else list(categories)
        units = None if units is None else list(units)
        cat_rows = _labelled_rows(categories, len(texts), "category")
        unit_rows = _labelled_rows(units, len(texts), "unit")
        if not len(cat_rows) and not len(unit_rows):
            raise ValueError("Nothing to learn: give category labels, unit labels, or both.")
        if len(unit_rows):
            unknown_units = sorted({units[i] for i in unit_rows} - set(self.registry.ids) - {UNKNOWN})
            if unknown_units:
                raise ValueError(
                    f"Unit label(s) {', '.join(unknown_units[:5])} are not in the registry; "
                    "fix the labels or add the units to units.csv."
                )
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        if len(texts) < SMALL_CORPUS:  # too few texts to prune rare terms
            params["min_df"] = 1
        self.features_ = build_features(self.segmenter, params)
        norms = self.features_[0].fit_transform(texts)  # fitting the slices fits the pipeline's own steps
        X = self.features_[1:].fit_transform(norms)
        self.category_clf_ = None
        self.unit_clf_ = None
        self.unit_features_ = UnitFeatures(registry=self.registry, weight=params["unit_feature_weight"]).fit(norms)
        if len(cat_rows):
            y = np.asarray([categories[i] for i in cat_rows], dtype=object)
            w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[cat_rows]
            self.category_clf_ = fit_classifier(X[cat_rows], y, params, sample_weight=w)
        unit_norms = [norms[i] for i in unit_rows]
        if len(unit_rows):
            Xu = sp.hstack([X[unit_rows], self.unit_features_.transform(unit_norms)], format="csr")
            unit_params = {**params, "C": params["unit_C"], "classifier": params["unit_classifier"]}
            y = np.asarray([units[i] for i in unit_rows], dtype=object)
            self.unit_clf_ = fit_classifier(Xu, y, unit_params)
        self.thresholds_ = {**DEFAULT_THRESHOLDS, **(self.thresholds or {})}
        self.mention_precision_ = _single_mention_precision(self.registry, unit_norms, [units[i] for i in unit_rows])
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Build :attr:`predictor_` from the fitted parts (after ``fit``, and after unpickling)."""
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        union = dict(self.features_.named_steps["tfidf"].transformer_list)
        words = union["word"].plain()
        chars = union["char"].plain() if "char" in union else None
        n_text = words.n_features * (2 if words.head_chars else 1) + (chars.n_features if chars else 0)
        category = unit = None
        weights = [np.zeros((n_text, 0))]
        unit_weights = None
        if self.category_clf_ is not None:
            category, w = export_head(self.category_clf_)
            weights[0] = w
        if self.unit_clf_ is not None:
            unit, w = export_head(self.unit_clf_)
            weights.append(w[:n_text])
            unit_weights = np.ascontiguousarray(w[n_text:])
        self.predictor_ = Predictor(
            segmenter=self.segmenter, registry=self.registry, categories=self.categories, words=words, chars=chars,
            unit_hits=self.unit_features_.plain(),
            heads=Heads(category, unit, np.ascontiguousarray(np.hstack(weights)), unit_weights),
            thresholds=self.thresholds_, mention_precision=self.mention_precision_, params=params,
        )

    def __setstate__(self, state):
        self.__dict__.update(state)
        if hasattr(self, "features_"):
            self._prepare()

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "predictor_" and not k.startswith("_")}

    # -- properties --------------------------------------------------------------------------------------
    @property
    def category_labels(self) -> list[str]:
        return [str(c) for c in self.category_clf_.classes_] if self.category_clf_ is not None else []

    @property
    def unit_labels(self) -> list[str]:
        return [str(c) for c in self.unit_clf_.classes_] if self.unit_clf_ is not None else []

    # -- inference: the predictor's ----------------------------------------------------------------------
    def _predictor(self) -> Predictor:
        check_is_fitted(self, "predictor_", msg="The triage model is not fitted; train one with `triage train`.")
        return self.predictor_

    def classify(self, text: str, *, top_k: int = 3, evidence: bool = True) -> Prediction:
        """:meth:`Predictor.classify <triage.predictor.Predictor.classify>` of the fitted model."""
        return self._predictor().classify(text, top_k=top_k, evidence=evidence)

    def classify_many(self, texts: Sequence[str], *, top_k: int = 3, evidence: bool = True,
                      max_chars: int = MAX_TEXT_CHARS, errors: str = "raise") -> list[Prediction]:
        """:meth:`Predictor.classify_many <triage.predictor.Predictor.classify_many>` of the fitted model."""
        return self._predictor().classify_many(texts, top_k=top_k, evidence=evidence, max_chars=max_chars,
                                               errors=errors)

    def classify_table(self, texts: Sequence[str], *, max_chars: int = MAX_TEXT_CHARS):
        """:meth:`Predictor.classify_table <triage.predictor.Predictor.classify_table>` of the fitted model."""
        return self._predictor().classify_table(texts, max_chars=max_chars)


def is_label(y: object) -> bool:
    """Whether ``y`` is a label: a non-empty string (``None``, NaN and ``""`` mark a row not labelled for a head)."""
    return isinstance(y, str) and bool(y)


def _labelled_rows(labels: Sequence[str | None] | None, n: int, head: str) -> np.ndarray:
    """Indices of the texts that carry a ``head`` label (see :func:`is_label`)."""
    if labels is None:
        return np.zeros(0, dtype=np.int64)
    if len(labels) != n:
        raise ValueError(f"Got {n} texts but {len(labels)} {head} labels; give one label (or None) per text.")
    return np.fromiter((i for i, y in enumerate(labels) if is_label(y)), dtype=np.int64)


def _single_mention_precision(registry: Registry, norms: Sequence[str], units: Sequence[str] | None) -> float:
    """How often a text naming exactly one unit is labelled with that unit: the confidence of the name rule."""
    hits = total = 0
    for norm, unit in zip(norms, units or ()):
        named = {m.unit for m in registry.mentions(norm)}
        if len(named) == 1:
            total += 1
            hits += unit in named
    # Laplace-smoothed, so a tiny training set cannot claim certainty.
    return (hits + 1) / (total + 2) if total else 0.9


