"""The triage model: one object, one inference path (``_decide``, behind :meth:`TriageModel.classify_many` and
:meth:`TriageModel.classify_table`)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .errors import InputTextError
from .pipeline import (
    DEFAULT_PARAMS,
    BothHeads,
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
    check_texts,
    normalize_with_offsets,
)

#: Confidence below which a head's answer is flagged for review (overridden by thresholds tuned at training).
DEFAULT_THRESHOLDS = {"category": 0.5, "unit": 0.5}
#: Below this many training texts every term is kept (``min_df=1``).
SMALL_CORPUS = 100
#: A unit inferred from the service with less probability than this becomes ``unknown``.
MIN_INFERRED_UNIT_SCORE = 0.3
#: The category given to a text with no signal (no Chinese, or no word the model knows), flagged for review.
OTHER = "other"
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
#: Words that say a township's or village's own people acted (rule 2 of the guide): then a named township is the
#: unit even when the matter is a department's service, and the service does not override it.
TOWNSHIP_ACTORS = re.compile(
    "镇里|镇上|乡里|乡上|镇政府|乡政府|镇党委|乡党委|镇长|乡长|镇干部|乡干部|包村|驻村|村委|村两委|村干部|村支书|"
    "支书|村主任|村长|村会计|村组长|组长|社区主任|社区书记|居委会|社区工作人员|书记"
)


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


#: Columns of :meth:`TriageModel.classify_table`, in this order.
TABLE_COLUMNS = [
    "category", "category_name", "category_score", "unit", "unit_name", "unit_score", "unit_source",
    "needs_review", "error",
]


@dataclass
class _Decisions:
    """Both heads' decisions for a batch of texts, column by column, with what alternatives and evidence need."""

    X: sp.csr_matrix | None
    cat_p: np.ndarray | None
    unit_p: np.ndarray | None
    category: list[str] | None = None
    category_score: np.ndarray | None = None
    review_category: np.ndarray | None = None
    unit: list[str] = field(default_factory=list)
    unit_score: np.ndarray | None = None
    unit_source: list[str] = field(default_factory=list)
    review_unit: np.ndarray | None = None
    no_signal: np.ndarray | None = None


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
        """Derive look-up tables used at prediction time (also after loading)."""
        self._cat_info = {c.id: c for c in self.categories}
        union = self.features_.named_steps["tfidf"]
        self.__dict__.pop("_feature_names_cache", None)  # rebuilt on first use, from the features just fitted
        self._cat_coef = linear_coef(self.category_clf_) if self.category_clf_ is not None else None
        self._truncate = self.features_.named_steps["truncate"]
        self._vectorizers = [vec for _, vec in union.transformer_list]
        self._category_labels = self.category_labels
        self._unit_labels = self.unit_labels
        self._unit_index = {u: j for j, u in enumerate(self._unit_labels)}
        self._cat_proba = _proba_function(self.category_clf_)
        self._unit_proba = _proba_function(self.unit_clf_)
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        self._mention_override = float(params["mention_override"])
        self._ws_threshold = None if params["work_style_threshold"] is None else float(params["work_style_threshold"])
        self._both_heads = (
            BothHeads(self._cat_proba, self._unit_proba,
                      self._unit_proba.coef_t.shape[0] - self.unit_features_.n_features_)
            if isinstance(self._cat_proba, LinearProba) and isinstance(self._unit_proba, LinearProba) else None
        )

    @property
    def _feature_names(self) -> list[tuple[str, str]]:
        """``(block, feature)`` for every column of the features; built on first use (evidence needs it, batch
        runs do not, and it is a tenth of a second of loading)."""
        names = self.__dict__.get("_feature_names_cache")
        if names is None:
            names = [(name, f) for name, vec in self.features_.named_steps["tfidf"].transformer_list
                     for f in vec.get_feature_names_out()]
            self._feature_names_cache = names
        return names

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
        """Classify complaints in one pass, as the CLI and the API do; batch runs take the same decisions as columns
        from :meth:`classify_table`.

        A text that is not a string, is over ``max_chars`` or is empty after normalisation raises
        :class:`InputTextError`; with ``errors="return"`` that error takes the text's place in the result
        instead, and the other texts are still classified.
        """
        texts, norms, failed = self._check(texts, max_chars, errors)
        good = [i for i in range(len(texts)) if i not in failed]
        d = self._decide([norms[i] for i in good])
        preds = iter(self._prediction(texts[i], d, k, top_k, evidence) for k, i in enumerate(good))
        return [failed[i] if i in failed else next(preds) for i in range(len(texts))]

    def classify_table(self, texts: Sequence[str], *, max_chars: int = MAX_TEXT_CHARS) -> pd.DataFrame:
        """The decisions of :meth:`classify_many` as columns, one row per text, for labelling whole files.

        Columns: :data:`TABLE_COLUMNS`. A text that cannot be classified gets ``error`` and no labels. Without
        alternatives and evidence this is several times cheaper per text than building :class:`Prediction` s.
        """
        texts, norms, failed = self._check(texts, max_chars, "return")
        good = [i for i in range(len(texts)) if i not in failed]
        d = self._decide([norms[i] for i in good])
        n = len(texts)
        cols: dict[str, Any] = {c: np.full(n, None, dtype=object) for c in TABLE_COLUMNS}
        for c in ("category_score", "unit_score"):
            cols[c] = np.full(n, np.nan)
        cols["needs_review"] = pd.array([None] * n, dtype="boolean")
        if good:
            idx = np.asarray(good)
            if d.category is not None:
                cols["category"][idx] = d.category
                cols["category_name"][idx] = [self._category_info(c).name for c in d.category]
                cols["category_score"][idx] = d.category_score
            cols["unit"][idx] = d.unit
            cols["unit_name"][idx] = [self.registry.name_of(u) for u in d.unit]
            cols["unit_score"][idx] = d.unit_score
            cols["unit_source"][idx] = d.unit_source
            cols["needs_review"][idx] = d.review_category | d.review_unit
        if failed:
            cols["error"][list(failed)] = [str(e) for e in failed.values()]
        # object columns (None for missing), not pandas' inferred string dtype: writers and callers see None
        return pd.DataFrame({c: pd.Series(v, dtype=object) if isinstance(v, np.ndarray) and v.dtype == object else v
                             for c, v in cols.items()}, columns=TABLE_COLUMNS)

    def _check(self, texts, max_chars: int, errors: str) -> tuple[list, list, dict[int, InputTextError]]:
        """Texts, their normalised forms and the refused ones by index (raised at once with ``errors="raise"``)."""
        check_is_fitted(self, "features_", msg="The triage model is not fitted; train one with `triage train`.")
        if isinstance(texts, str):
            raise TypeError("classify_many takes a list of texts; use classify() for one string.")
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return'; got {errors!r}")
        texts = list(texts)
        checked = check_texts(texts, max_chars)
        failed = {i: r for i, r in enumerate(checked) if isinstance(r, InputTextError)}
        if failed and errors == "raise":
            raise next(iter(failed.values()))
        return texts, checked, failed

    def _decide(self, norms: list[str]) -> _Decisions:
        """Features, probabilities and the decisions of both heads for normalised texts, column by column.

        A text with no signal — no Chinese character, or no word the model knows — gets :data:`OTHER` (when the
        model has it), no unit and the review flag, never a confident work-style call.
        """
        n = len(norms)
        X, known_words = self._features(norms) if n else (None, np.zeros(0, dtype=bool))
        no_signal = ~known_words | np.fromiter((_CJK.search(t) is None for t in norms), dtype=bool, count=n)
        mentions = [self.registry.mentions(t) for t in norms]
        cat_p = unit_p = U = None
        if n and self._unit_proba is not None:
            U = self.unit_features_.from_hits([(m, self.registry.service_owners(t)) for m, t in zip(mentions, norms)])
        if n and self._both_heads is not None:
            cat_p, unit_p = self._both_heads(X, U)
        elif n:
            cat_p = self._cat_proba(X) if self._cat_proba is not None else None
            unit_p = self._unit_proba(sp.hstack([X, U], format="csr")) if U is not None else None
        d = _Decisions(X=X, cat_p=cat_p, unit_p=unit_p, no_signal=no_signal)
        if cat_p is not None:
            best = self._category_choice(cat_p)
            if no_signal.any() and OTHER in self._category_labels:
                best[no_signal] = self._category_labels.index(OTHER)
            d.category = [self._category_labels[j] for j in best]
            d.category_score = _rounded(cat_p[np.arange(n), best])
            d.review_category = (d.category_score < self.thresholds_["category"]) | no_signal
        else:
            d.review_category = np.zeros(n, dtype=bool)
        decided = [(UNKNOWN, 0.0, "none") if quiet else
                   self._unit(m, unit_p[i] if unit_p is not None else None, bool(m) and TOWNSHIP_ACTORS.search(t) is not None)
                   for i, (m, quiet, t) in enumerate(zip(mentions, no_signal, norms))]
        d.unit = [u for u, _, _ in decided]
        d.unit_score = _rounded(np.fromiter((s for _, s, _ in decided), dtype=np.float64, count=n))
        d.unit_source = [src for _, _, src in decided]
        d.review_unit = (d.unit_score < self.thresholds_["unit"]) | no_signal
        return d

    def _category_choice(self, cat_p: np.ndarray) -> np.ndarray:
        """Column of the chosen category per row. With a ``work_style_threshold`` t the choice is two-step: work
        style when the eight together have at least t of the probability (then the likeliest of them), else
        :data:`OTHER`. Plain argmax splits the work-style mass eight ways and so lets ``other`` win too often."""
        best = cat_p.argmax(axis=1)
        t = self._ws_threshold
        if t is None or OTHER not in self._category_labels:
            return best
        o = self._category_labels.index(OTHER)
        eight = np.delete(np.arange(cat_p.shape[1]), o)
        likeliest = eight[cat_p[:, eight].argmax(axis=1)]
        return np.where(1.0 - cat_p[:, o] >= t, likeliest, o)

    def _features(self, norms: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """``features_`` after its normalise step, without the per-call overhead of Pipeline and FeatureUnion;
        and for each text whether any word (the first block) is in the vocabulary."""
        texts = self._truncate.transform(norms)
        blocks = [vec.transform(texts) for vec in self._vectorizers]
        return sp.hstack(blocks, format="csr"), np.diff(blocks[0].indptr) > 0

    def _prediction(self, text: str, d: _Decisions, i: int, top_k: int, evidence: bool) -> Prediction:
        """The :class:`Prediction` for text ``i`` of a batch: its decisions plus alternatives and evidence."""
        if d.no_signal[i]:
            reasons = ["no_signal"]
        else:
            reasons = [r for r, flag in (("category_low_confidence", d.review_category[i]),
                                         ("unit_low_confidence", d.review_unit[i])) if flag]
        ev: list[Evidence] = []
        if evidence:  # evidence points into the original text through a per-character normalisation
            ev_norm, offsets = normalize_with_offsets(text)
        category, char, name, cscore, alts = None, "", "", 0.0, []
        if d.cat_p is not None:
            chosen = self._category_labels.index(d.category[i])  # the top score's, unless there was no signal
            order = np.argsort(-d.cat_p[i], kind="stable")
            order = [chosen, *(j for j in order if j != chosen)]
            alts = [self._alt(self._category_labels[j], float(d.cat_p[i, j])) for j in order[: max(top_k, 1)]]
            top = alts[0]
            category, char, name, cscore = top.category, top.char, top.name, float(d.category_score[i])
            if evidence:
                ev.extend(self._category_evidence(text, ev_norm, offsets, d.X[i], chosen))
        ualts = []
        if d.unit_p is not None:
            order = np.argsort(-d.unit_p[i], kind="stable")[:3]
            ualts = [{"unit": self._unit_labels[j], "unit_name": self.registry.name_of(self._unit_labels[j]),
                      "score": round(float(d.unit_p[i, j]), 4)} for j in order]
        if evidence:
            ev.extend(self._unit_evidence(text, ev_norm, offsets, d.unit[i]))
        return Prediction(
            category=category,
            char=char,
            name=name,
            category_score=cscore,
            alternatives=alts[1:] if alts else [],
            unit=d.unit[i],
            unit_name=self.registry.name_of(d.unit[i]),
            unit_score=float(d.unit_score[i]),
            unit_source=d.unit_source[i],
            unit_alternatives=ualts,
            evidence=ev,
            needs_review=bool(reasons),
            review_reasons=reasons,
        )

    def _category_info(self, cat: str) -> CategoryInfo:
        """Display data of a category; its id stands in for the name when none was given."""
        return self._cat_info.get(cat) or CategoryInfo(cat, "", cat)

    def _alt(self, cat: str, score: float) -> Alternative:
        info = self._category_info(cat)
        return Alternative(cat, info.char, info.name, round(score, 4))

    def _unit(self, mentions, p: np.ndarray | None, actors: bool = False) -> tuple[str, float, str]:
        """Decide the unit from the units named in the text and the classifier's probabilities ``p``.

        A named unit is evidence, not a verdict: when the classifier's best unit is another one (the service the
        letter is about) and outweighs the best named unit by ``mention_override``, that unit wins (``inferred``),
        unless the best named unit is a township and ``actors`` says its own people acted (:data:`TOWNSHIP_ACTORS`).
        Otherwise the best named unit by ``p`` wins (``mention``), with the precision of the name rule in training
        as its score when the classifier agrees, or its share of the two when it does not. With nothing named, the
        classifier infers the unit, or ``unknown`` when it is unsure.
        """
        mentioned = list(dict.fromkeys(m.unit for m in mentions))
        if p is None:
            return (mentioned[0], float(self.mention_precision_), "mention") if mentioned else (UNKNOWN, 0.0, "none")
        j = int(p.argmax())
        top, top_p = self._unit_labels[j], float(p[j])
        if mentioned:
            index = self._unit_index
            sub = [float(p[index[u]]) if u in index else 0.0 for u in mentioned]
            best = max(range(len(mentioned)), key=sub.__getitem__)
            unit, named_p = mentioned[best], sub[best]
            if top == unit or top == UNKNOWN and len(mentioned) == 1:
                score = float(self.mention_precision_) if len(mentioned) == 1 else named_p / sum(sub)
                return unit, score, "mention"
            override = self._mention_override
            township_acted = actors and self.registry[unit].type == "township"
            if (not township_acted and top != UNKNOWN and top not in mentioned
                    and top_p >= max(override * named_p, MIN_INFERRED_UNIT_SCORE)):
                return top, top_p, "inferred"
            return unit, named_p / (named_p + top_p), "mention"  # top_p, the largest probability, is > 0
        if top == UNKNOWN:
            return UNKNOWN, top_p, "none"
        if top_p < MIN_INFERRED_UNIT_SCORE:
            return UNKNOWN, float(p[self._unit_index[UNKNOWN]]) if UNKNOWN in self._unit_index else 0.0, "none"
        return top, top_p, "inferred"

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


def _rounded(scores: np.ndarray) -> np.ndarray:
    """Scores as shown (4 decimals, as Python's ``round``): review flags are decided on what the user sees.

    ``np.round`` agrees with ``round`` except where the scaled score sits within float error of a half; those
    few are redone one by one.
    """
    scores = np.asarray(scores, dtype=np.float64)
    out = np.round(scores, 4)
    scaled = scores * 1e4
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near_half.any():
        out[near_half] = [round(x, 4) for x in scores[near_half].tolist()]
    return out


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
