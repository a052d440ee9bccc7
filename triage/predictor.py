"""The inference model: one object, one inference path (``_decide``, behind :meth:`Predictor.classify_many` and
:meth:`Predictor.classify_table`), built from plain data.

A :class:`Predictor` holds vocabularies, weights and settings as arrays, lists and numbers; it imports neither
scikit-learn nor SciPy nor pandas (``classify_table`` imports pandas when called). Training builds one from its
fitted scikit-learn model (:meth:`triage.model.TriageModel.fit`); :meth:`Predictor.from_dir` loads one from a
model directory after checking every file's sha256, without running any code from the files.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputTextError, ModelIntegrityError
from .features import CharFeatures, UnitHitFeatures, WordFeatures
from .linear import Heads, LinearHead
from .prediction import TABLE_COLUMNS, Alternative, CategoryInfo, Evidence, Prediction
from .registry import UNKNOWN, Registry, Unit
from .sparse import Csr
from .text import MAX_TEXT_CHARS, Segmenter, check_texts, normalize_with_offsets

if TYPE_CHECKING:
    import pandas as pd

#: Confidence below which a head's answer is flagged for review (overridden by thresholds tuned at training).
DEFAULT_THRESHOLDS = {"category": 0.5, "unit": 0.5}
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
#: Layout of the saved configuration (``model.json``); bumped when it changes.
CONFIG_FORMAT = "triage-predictor/1"


@dataclass
class _Decisions:
    """Both heads' decisions for a batch of texts, column by column, with what alternatives and evidence need."""

    blocks: list[Csr]
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


class Predictor:
    """Category head + unit head over shared text features, as data.

    Parameters
    ----------
    segmenter : Segmenter
        Word segmenter with the domain dictionary.
    registry : Registry
        The county's units: names found in a text are evidence for the unit.
    categories : sequence of CategoryInfo
        Display data (character, name) for category ids.
    words, chars : WordFeatures, CharFeatures or None
        The text features: word blocks (whole text, head), then character n-grams.
    unit_hits : UnitHitFeatures
        Registry evidence features of the unit head.
    heads : Heads
        The heads' weights and probability functions.
    thresholds : dict
        ``{"category": p, "unit": p}``: below these scores a prediction needs review.
    mention_precision : float
        How often the name rule was right in training: the confidence of an uncontested named unit.
    params : dict
        Settings used at inference: ``max_chars``, ``mention_override``, ``work_style_threshold`` (and the rest of
        the training parameters, kept for the record).
    """

    def __init__(self, *, segmenter: Segmenter, registry: Registry, categories: Sequence[CategoryInfo],
                 words: WordFeatures, chars: CharFeatures | None, unit_hits: UnitHitFeatures, heads: Heads,
                 thresholds: dict[str, float], mention_precision: float, params: dict[str, Any]) -> None:
        self.segmenter = segmenter
        self.registry = registry
        self.categories = list(categories)
        self.words = words
        self.chars = chars
        self.unit_hits = unit_hits
        self.heads = heads
        self.thresholds_ = {**DEFAULT_THRESHOLDS, **thresholds}
        self.mention_precision_ = float(mention_precision)
        self.params = dict(params)
        self.manifest: dict[str, Any] = {}
        self._cat_info = {c.id: c for c in self.categories}
        self._category_labels = list(heads.category.classes) if heads.category else []
        self._unit_labels = list(heads.unit.classes) if heads.unit else []
        self._unit_index = {u: j for j, u in enumerate(self._unit_labels)}
        self._max_chars = params.get("max_chars")
        self._mention_override = float(params.get("mention_override", 1.0))
        ws = params.get("work_style_threshold")
        self._ws_threshold = None if ws is None else float(ws)

    # -- properties --------------------------------------------------------------------------------------
    @property
    def category_labels(self) -> list[str]:
        return list(self._category_labels)

    @property
    def unit_labels(self) -> list[str]:
        return list(self._unit_labels)

    def __repr__(self) -> str:
        return (f"Predictor({len(self._category_labels)} categories, {len(self._unit_labels)} units, "
                f"{self.n_text_features} text features)")

    @property
    def n_text_features(self) -> int:
        return len(self.heads.text_weights)

    def build_lookup_tables(self) -> Predictor:
        """Build now the look-up tables the compiled kernels use (:mod:`triage.kernels`; about 40 MB and a tenth of
        a second), which the first large batch would otherwise build. Servers and batch runs call it at start;
        a one-letter ``classify`` does without (small inputs are looked up without them). The registry then scans
        with DFAs. Returns ``self``."""
        self.registry.build_lookup_tables()
        self.words.build_tables()
        if self.chars is not None:
            self.chars.build_tables()
        return self

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
        import pandas as pd

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
                names = {c: self._category_info(c).name for c in set(d.category)}
                cols["category"][idx] = d.category
                cols["category_name"][idx] = [names[c] for c in d.category]
                cols["category_score"][idx] = d.category_score
            unit_names = {u: self.registry.name_of(u) for u in set(d.unit)}
            cols["unit"][idx] = d.unit
            cols["unit_name"][idx] = [unit_names[u] for u in d.unit]
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

    def features(self, norms: list[str]) -> list[Csr]:
        """The text features of normalised texts as column blocks: words, words of the head, character n-grams."""
        texts = [t[: self._max_chars] for t in norms] if self._max_chars else norms
        lower = self.words.lowercase and (self.chars is None or self.chars.lowercase)  # then lowercase once, here
        if lower:
            texts = [t.lower() for t in texts]
        blocks = self.words.transform(texts, lowercased=lower)
        if self.chars is not None:
            blocks.append(self.chars.transform(texts, lowercased=lower))
        return blocks

    def _decide(self, norms: list[str]) -> _Decisions:
        """Features, probabilities and the decisions of both heads for normalised texts, column by column.

        A text with no signal — no Chinese character, or no word the model knows — gets :data:`OTHER` (when the
        model has it), no unit and the review flag, never a confident work-style call.
        """
        n = len(norms)
        blocks = self.features(norms) if n else []
        known_words = blocks[0].row_lengths() > 0 if n else np.zeros(0, dtype=bool)
        no_signal = ~known_words | np.fromiter((_CJK.search(t) is None for t in norms), dtype=bool, count=n)
        mentions = [self.registry.mentions(t) for t in norms]
        cat_p = unit_p = None
        if n:
            U = (self.unit_hits.from_hits([(m, self.registry.service_owners(t)) for m, t in zip(mentions, norms)])
                 if self.heads.unit is not None else None)
            cat_p, unit_p = self.heads(blocks, U)
        d = _Decisions(blocks=blocks, cat_p=cat_p, unit_p=unit_p, no_signal=no_signal)
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
                ev.extend(self._category_evidence(text, ev_norm, offsets, d.blocks, i, chosen))
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
        A township or village named only as the place gives way to ``unknown`` the same way (rule 6 of the guide:
        the town where a private dispute happened is not the unit). Otherwise the best named unit by ``p`` wins
        (``mention``), with the precision of the name rule in training as its score when the classifier agrees, or
        its share of the two when it does not. With nothing named, the classifier infers the unit, or ``unknown``
        when it is unsure.
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
            township = self.registry[unit].type == "township"
            place_only = township and not actors  # a township or village named, its own people not said to act
            if top == unit or top == UNKNOWN and len(mentioned) == 1 and not place_only:
                score = float(self.mention_precision_) if len(mentioned) == 1 else named_p / sum(sub)
                return unit, score, "mention"
            if top not in mentioned and top_p >= max(self._mention_override * named_p, MIN_INFERRED_UNIT_SCORE):
                if top == UNKNOWN and place_only:  # only the place was named, and nothing points to a unit
                    return UNKNOWN, top_p, "none"
                if top != UNKNOWN and not (township and actors):
                    return top, top_p, "inferred"
            return unit, named_p / (named_p + top_p), "mention"  # top_p, the largest probability, is > 0
        if top == UNKNOWN:
            return UNKNOWN, top_p, "none"
        if top_p < MIN_INFERRED_UNIT_SCORE:
            return UNKNOWN, float(p[self._unit_index[UNKNOWN]]) if UNKNOWN in self._unit_index else 0.0, "none"
        return top, top_p, "inferred"

    # -- evidence ----------------------------------------------------------------------------------------
    def feature_name(self, column: int) -> tuple[str, str]:
        """``(block, feature)`` of a text-feature column: ``("word", w)``, ``("word", "head:" + w)`` or
        ``("char", gram)``."""
        n_words = self.words.n_features
        if column < n_words:
            return "word", self.words.words[column]
        column -= n_words
        if self.words.head_chars:
            if column < n_words:
                return "word", "head:" + self.words.words[column]
            column -= n_words
        return "char", self.chars.feature_name(column)

    def _single_char_columns(self) -> tuple[int, int]:
        """The text-feature columns of single characters, ``[start, end)``: never evidence on their own."""
        if self.chars is None or self.chars.ngram_range[0] != 1:
            return 0, 0
        start = self.words.n_features * (2 if self.words.head_chars else 1)
        return start, start + len(self.chars.vocab[0])

    def _category_evidence(self, text, norm, offsets, blocks: list[Csr], i: int, cls_index: int,
                           k: int = 5) -> list[Evidence]:
        cols, vals, at = [], [], 0
        for block in blocks:
            c, v = block.row(i)
            cols.append(c + at)
            vals.append(v)
            at += block.n_cols
        cols, vals = np.concatenate(cols), np.concatenate(vals)
        contrib = vals * self.heads.category.class_weights(self.heads.category_weights(), cls_index, cols)
        order = np.argsort(-contrib)
        taken: list[tuple[int, int]] = []
        out = []
        low = _lower_same_length(norm)
        single_chars = self._single_char_columns()
        for j in order:
            if contrib[j] <= 0 or len(out) >= k:
                break
            if single_chars[0] <= cols[j] < single_chars[1]:  # one character explains nothing (see below)
                continue
            _, feat = self.feature_name(int(cols[j]))
            term = feat.removeprefix("head:")
            if sum(c.isalnum() for c in term) < 2:  # single characters and punctuation explain nothing
                continue
            pos = low.find(term)
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

    # -- saving and loading ------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-able data (``model.json``)."""
        heads = self.heads
        return {
            "format": CONFIG_FORMAT,
            "params": _jsonable(self.params),
            "thresholds": self.thresholds_,
            "mention_precision": self.mention_precision_,
            "categories": [asdict(c) for c in self.categories],
            "registry": [asdict(u) for u in self.registry.units],
            "dictionary": [list(w) for w in self.segmenter.words],
            "words": self.words.config(),
            "chars": self.chars.config() if self.chars is not None else None,
            "unit_features": self.unit_hits.config(),
            "category_head": heads.category.config() if heads.category else None,
            "unit_head": heads.unit.config() if heads.unit else None,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The numeric state, by name (one ``.npy`` file each)."""
        heads = self.heads
        out = {"text_weights": heads.text_weights, **self.words.arrays()}
        if self.chars is not None:
            out.update(self.chars.arrays())
        if heads.category:
            out.update(heads.category.arrays("category"))
        if heads.unit:
            out.update(heads.unit.arrays("unit"))
            if heads.unit_weights is not None:
                out["unit_weights"] = heads.unit_weights
        return out

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Predictor:
        """Rebuild a predictor from :meth:`config` and :meth:`arrays` (as read back from a model directory)."""
        if not isinstance(config, dict) or config.get("format") != CONFIG_FORMAT:
            found = config.get("format", "(none)") if isinstance(config, dict) else type(config).__name__
            raise ModelIntegrityError(f"model.json is not a triage model (format {found!r}; this triage reads "
                                      f"{CONFIG_FORMAT!r}). Retrain it.")
        try:
            segmenter = Segmenter.from_words([(w, int(f), t) for w, f, t in config["dictionary"]])
            registry = Registry([Unit(**{k: tuple(v) if isinstance(v, list) else v for k, v in u.items()})
                                 for u in config["registry"]])
            words = WordFeatures.from_saved(config["words"], arrays, segmenter)
            chars = CharFeatures.from_saved(config["chars"], arrays) if config["chars"] else None
            heads = Heads(
                LinearHead.from_saved(config["category_head"], arrays, "category") if config["category_head"] else None,
                LinearHead.from_saved(config["unit_head"], arrays, "unit") if config["unit_head"] else None,
                arrays["text_weights"], arrays.get("unit_weights"),
            )
            unit_hits = UnitHitFeatures(list(config["unit_features"]["units"]), float(config["unit_features"]["weight"]))
            expected = words.n_features * (2 if words.head_chars else 1) + (chars.n_features if chars else 0)
            if heads.text_weights.shape[0] != expected:
                raise ValueError(f"text weights have {heads.text_weights.shape[0]} rows for {expected} features")
            return cls(
                segmenter=segmenter, registry=registry,
                categories=[CategoryInfo(**c) for c in config["categories"]],
                words=words, chars=chars, unit_hits=unit_hits, heads=heads,
                thresholds=dict(config["thresholds"]), mention_precision=float(config["mention_precision"]),
                params=dict(config["params"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelIntegrityError(
                f"The model files are inconsistent ({type(e).__name__}: {e}); the model will not be loaded. Retrain it."
            ) from None

    @classmethod
    def from_dir(cls, directory: str | Path) -> Predictor:
        """Load a model directory after verifying each file against its manifest (see :func:`triage.artifacts.load`)."""
        from .artifacts import load

        config, arrays, manifest = load(directory)
        try:
            predictor = cls.from_saved(config, arrays)
        except ModelIntegrityError as e:
            raise ModelIntegrityError(f"Model in {directory}: {e}") from None
        predictor.manifest = manifest
        return predictor


def _jsonable(value: Any) -> Any:
    """Parameters as JSON keeps them (tuples become lists)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


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


def _lower_same_length(text: str) -> str:
    """Lower-case ``text`` one character for one (``'İ'.lower()`` has two), so positions stay valid."""
    low = text.lower()
    return low if len(low) == len(text) else "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
