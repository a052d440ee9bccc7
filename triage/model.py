"""The triage model: one object, one inference path (:meth:`TriageModel.classify_many`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .errors import InputTextError
from .pipeline import (
    DEFAULT_PARAMS,
    LinearProba,
    UnitFeatures,
    build_features,
    fit_classifier,
    linear_coef,
)
from .registry import UNKNOWN, Registry
from .text import (
    MAX_TEXT_CHARS,
    Segmenter,
    check_text,
    normalize_with_offsets,
)

#: Confidence below which a head's answer is flagged for review (overridden by thresholds tuned at training).
DEFAULT_THRESHOLDS = {"category": 0.5, "unit": 0.5}
#: Below this many training texts every term is kept (``min_df=1``).
SMALL_CORPUS = 100
#: A unit inferred from the service with less probability than this becomes ``unknown``.
MIN_INFERRED_UNIT_SCORE = 0.3


@dataclass
class Alternative:
    category: str
    char: str
    name: str
    score: float


@dataclass
class Evidence:
    """A span of the input that drove a decision: ``text[start:end] == term``."""

    term: str
    start: int
    end: int
    head: str  # "category" or "unit"
    weight: float


@dataclass
class Prediction:
    """What triage says about one complaint."""

    category: str | None
    char: str
    name: str
    category_score: float
    alternatives: list[Alternative]
    unit: str | None
    unit_name: str
    unit_score: float
    unit_source: str  # "mention", "inferred" or "none"
    unit_alternatives: list[dict[str, Any]]
    evidence: list[Evidence]
    needs_review: bool
    review_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CategoryInfo:
    id: str
    char: str
    name: str


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
    def fit(self, texts: Sequence[str], categories: Sequence[str] | None = None, units: Sequence[str] | None = None):
        """Fit the heads that have labels. Returns ``self``."""
        if isinstance(texts, str):
            raise TypeError("Iterable over raw text documents expected, string object received.")
        if categories is None and units is None:
            raise ValueError("Nothing to learn: give category labels, unit labels, or both.")
        if self.segmenter is None or self.registry is None:
            raise ValueError("TriageModel needs a segmenter and a registry; build one with triage.train.")
        texts = list(texts)
        categories = None if categories is None else list(categories)
        units = None if units is None else list(units)
        if units is not None:
            unknown_units = sorted(set(units) - set(self.registry.ids) - {UNKNOWN})
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
        if categories is not None:
            self.category_clf_ = fit_classifier(X, np.asarray(categories, dtype=object), params)
        if units is not None:
            Xu = sp.hstack([X, self.unit_features_.transform(norms)], format="csr")
            unit_params = {**params, "C": params["unit_C"], "classifier": params["unit_classifier"]}
            self.unit_clf_ = fit_classifier(Xu, np.asarray(units, dtype=object), unit_params)
        self.thresholds_ = {**DEFAULT_THRESHOLDS, **(self.thresholds or {})}
        self.mention_precision_ = _single_mention_precision(self.registry, norms, units)
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Derive look-up tables used at prediction time (also after loading)."""
        self._cat_info = {c.id: c for c in self.categories}
        union = self.features_.named_steps["tfidf"]
        names = []
        for name, vec in union.transformer_list:
            names.extend((name, f) for f in vec.get_feature_names_out())
        self._feature_names = names
        self._cat_coef = linear_coef(self.category_clf_) if self.category_clf_ is not None else None
        self._truncate = self.features_.named_steps["truncate"]
        self._vectorizers = [vec for _, vec in union.transformer_list]
        self._cat_proba = _proba_function(self.category_clf_)
        self._unit_proba = _proba_function(self.unit_clf_)

    def __setstate__(self, state):
        self.__dict__.update(state)
        if hasattr(self, "features_"):
            self._prepare()

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    # -- properties --------------------------------------------------------------------------------------
    @property
    def category_labels(self) -> list[str]:
        return [str(c) for c in self.category_clf_.classes_] if self.category_clf_ is not None else []

    @property
    def unit_labels(self) -> list[str]:
        return [str(c) for c in self.unit_clf_.classes_] if self.unit_clf_ is not None else []

    # -- inference ---------------------------------------------------------------------------------------
    def classify(self, text: str, *, top_k: int = 3, evidence: bool = True) -> Prediction:
        """Classify one complaint. Raises :class:`InputTextError` for unusable text."""
        return self.classify_many([text], top_k=top_k, evidence=evidence)[0]

    def classify_many(
        self,
        texts: Sequence[str],
        *,
        top_k: int = 3,
        evidence: bool = True,
        max_chars: int = MAX_TEXT_CHARS,
        errors: str = "raise",
    ) -> list[Prediction]:
        """Classify complaints in one pass: the one inference path of the CLI, the API and batch runs.

        A text that is not a string, is over ``max_chars`` or is empty after normalisation raises
        :class:`InputTextError`; with ``errors="return"`` that error takes the text's place in the result
        instead, and the other texts are still classified.
        """
        check_is_fitted(self, "features_", msg="The triage model is not fitted; train one with `triage train`.")
        if isinstance(texts, str):
            raise TypeError("classify_many takes a list of texts; use classify() for one string.")
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return'; got {errors!r}")
        failed: dict[int, InputTextError] = {}
        norms: list[str] = []
        for i, t in enumerate(texts):
            try:
                norm = check_text(t, max_chars)
            except InputTextError as e:
                if errors == "raise":
                    raise
                failed[i] = e
                continue
            norms.append(norm)
        good = [i for i in range(len(texts)) if i not in failed]
        preds = iter(self._classify_normalized([texts[i] for i in good], norms, top_k, evidence))
        return [failed[i] if i in failed else next(preds) for i in range(len(texts))]

    def _classify_normalized(self, texts: list[str], norms: list[str], top_k: int, evidence: bool) -> list[Prediction]:
        if not texts:
            return []
        X = self._features(norms)
        hits = [(self.registry.mentions(n), self.registry.services(n)) for n in norms]
        cat_p = self._cat_proba(X) if self._cat_proba is not None else None
        unit_p = None
        if self._unit_proba is not None:
            Xu = sp.hstack([X, self.unit_features_.from_hits(hits)], format="csr")
            unit_p = self._unit_proba(Xu)
        return [
            self._one(texts[i], hits[i][0], X[i] if evidence else None, cat_p, unit_p, i, top_k)
            for i in range(len(texts))
        ]

    def _features(self, norms: list[str]) -> sp.csr_matrix:
        """``features_`` after its normalise step, without the per-call overhead of Pipeline and FeatureUnion."""
        texts = self._truncate.transform(norms)
        return sp.hstack([vec.transform(texts) for vec in self._vectorizers], format="csr")

    def _one(self, text, mentions, x_row, cat_p, unit_p, i, top_k) -> Prediction:
        reasons: list[str] = []
        ev: list[Evidence] = []
        if x_row is not None:  # evidence points into the original text through a per-character normalisation
            ev_norm, offsets = normalize_with_offsets(text)
        # category
        category, char, name, cscore, alts = None, "", "", 0.0, []
        if cat_p is not None:
            labels = self.category_labels
            order = np.argsort(-cat_p[i])
            alts = [self._alt(labels[j], float(cat_p[i, j])) for j in order[: max(top_k, 1)]]
            top = alts[0]
            category, char, name, cscore = top.category, top.char, top.name, top.score
            if cscore < self.thresholds_["category"]:
                reasons.append("category_low_confidence")
            if x_row is not None:
                ev.extend(self._category_evidence(text, ev_norm, offsets, x_row, order[0]))
        # unit
        unit, uscore, usource, ualts = self._unit(mentions, unit_p[i] if unit_p is not None else None)
        if uscore < self.thresholds_["unit"]:
            reasons.append("unit_low_confidence")
        if x_row is not None:
            ev.extend(self._unit_evidence(text, ev_norm, offsets, unit))
        return Prediction(
            category=category,
            char=char,
            name=name,
            category_score=round(cscore, 4),
            alternatives=alts[1:] if alts else [],
            unit=unit,
            unit_name=self.registry.name_of(unit),
            unit_score=round(uscore, 4),
            unit_source=usource,
            unit_alternatives=ualts,
            evidence=ev,
            needs_review=bool(reasons),
            review_reasons=reasons,
        )

    def _alt(self, cat: str, score: float) -> Alternative:
        info = self._cat_info.get(cat)
        return Alternative(cat, info.char if info else "", info.name if info else cat, round(score, 4))

    def _unit(self, mentions, p: np.ndarray | None) -> tuple[str, float, str, list[dict[str, Any]]]:
        """Decide the unit: a named unit wins; otherwise the classifier's inference; else ``unknown``."""
        mentioned = []
        for m in mentions:
            if m.unit not in mentioned:
                mentioned.append(m.unit)
        probs = dict(zip(self.unit_labels, p)) if p is not None else {}
        ranked = sorted(probs.items(), key=lambda kv: -kv[1])
        ualts = [{"unit": u, "unit_name": self.registry.name_of(u), "score": round(float(s), 4)} for u, s in ranked[:3]]
        if mentioned:
            if len(mentioned) == 1 or not probs:
                unit = mentioned[0]
                score = self.mention_precision_
            else:
                sub = {u: probs.get(u, 0.0) for u in mentioned}
                unit = max(mentioned, key=lambda u: sub[u])
                total = sum(sub.values())
                score = sub[unit] / total if total > 0 else 1.0 / len(mentioned)
            return unit, float(score), "mention", ualts
        if not probs:
            return UNKNOWN, 0.0, "none", ualts
        unit, score = ranked[0]
        if unit == UNKNOWN:
            return UNKNOWN, float(score), "none", ualts
        if score < MIN_INFERRED_UNIT_SCORE:
            return UNKNOWN, float(probs.get(UNKNOWN, 0.0)), "none", ualts
        return unit, float(score), "inferred", ualts

    # -- evidence ----------------------------------------------------------------------------------------
    def _category_evidence(self, text, norm, offsets, x_row, cls_index, k: int = 5) -> list[Evidence]:
        if self._cat_coef is None:
            return []
        x = x_row.tocsr()
        contrib = x.data * self._cat_coef[cls_index, x.indices]
        order = np.argsort(-contrib)
        taken: list[tuple[int, int]] = []
        out = []
        for j in order:
            if contrib[j] <= 0 or len(out) >= k:
                break
            kind, feat = self._feature_names[x.indices[j]]
            term = feat.removeprefix("head:")
            if sum(c.isalnum() for c in term) < 2:  # single characters and punctuation explain nothing
                continue
            pos = _lower_same_length(norm).find(term)
            if pos < 0 or not term.strip():
                continue
            span = (pos, pos + len(term))
            if any(s < span[1] and span[0] < e for s, e in taken):
                continue
            taken.append(span)
            out.append(self._evidence(text, offsets, span, "category", float(contrib[j])))
        return out

    def _unit_evidence(self, text, norm, offsets, unit) -> list[Evidence]:
        spans = [(m.start, m.end) for m in self.registry.mentions(norm) if m.unit == unit]
        if not spans:
            spans = [(s, e) for s, e, _, owners in self.registry.services(norm) if unit in owners]
        return [self._evidence(text, offsets, sp_, "unit", 1.0) for sp_ in spans[:3]]

    @staticmethod
    def _evidence(text, offsets, span, head, weight) -> Evidence:
        s, e = span
        start, end = offsets[s], offsets[e - 1] + 1
        return Evidence(term=text[start:end], start=start, end=end, head=head, weight=round(weight, 4))


def _proba_function(clf):
    """The fastest exact ``predict_proba`` for ``clf`` (``None`` when there is no classifier)."""
    if clf is None:
        return None
    return LinearProba.of(clf) or clf.predict_proba


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


def _lower_same_length(text: str) -> str:
    """Lower-case ``text`` one character for one (``'İ'.lower()`` has two), so positions stay valid."""
    low = text.lower()
    return low if len(low) == len(text) else "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
