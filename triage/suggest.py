"""Which letters to label next: the ones whose labels would teach the model most.

Uncertainty sampling by margin (Scheffer et al. 2001; Settles, *Active Learning Literature Survey*, 2009): a
letter's margin is the gap between the model's two likeliest answers, taken for the category head and for the
unit head, and the smaller of the two counts. The choice is spread over the predicted categories by round robin
(each category in turn gives its least certain letter), so rare categories get as many places as common ones
until they run out; and of near-duplicate letters (the same person writing again, a copy-paste campaign) only
the least certain one is kept, since a second label of the same text teaches nothing new.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DataError
from .text import mask_pii

#: Texts whose character-trigram TF-IDF cosine reaches this count as one letter (as in training's CV groups).
DUPLICATE_THRESHOLD = 0.7
#: Near-duplicates are looked for among this many least-certain candidates per category for each place asked.
POOL_FACTOR = 3
#: Columns of :func:`suggest`'s result, in this order.
COLUMNS = ["id", "text", "category", "category_name", "category_score", "category_margin", "second_category",
           "unit", "unit_name", "unit_score", "unit_margin", "second_unit", "margin", "why"]


@dataclass
class Candidate:
    """One classified letter with its margins."""

    index: int
    prediction: Any
    category_margin: float
    unit_margin: float
    duplicates: int = 0

    @property
    def margin(self) -> float:
        return min(self.category_margin, self.unit_margin)

    @property
    def head(self) -> str:
        return "category" if self.category_margin <= self.unit_margin else "unit"


def margins(p: Any) -> tuple[float, float]:
    """(category margin, unit margin) of a :class:`triage.Prediction`; 1.0 for a head with one answer or none.

    The category margin is the chosen category's score less the best other one's; it is negative when the
    two-step work-style rule chose a category that is not the likeliest alone (the model is then torn).
    """
    cat = p.category_score - p.alternatives[0].score if p.category is not None and p.alternatives else 1.0
    ua = p.unit_alternatives
    unit = ua[0]["score"] - ua[1]["score"] if len(ua) >= 2 else 1.0
    return round(float(cat), 4), round(float(unit), 4)


def _round_robin(by_category: dict[str, list[Candidate]], n: int) -> list[tuple[Candidate, int]]:
    """Up to ``n`` candidates, each category in turn giving its least certain one (the category whose next
    candidate is least certain goes first in each round); with each one's rank within its category."""
    queues = {c: sorted(v, key=lambda k: (k.margin, k.index)) for c, v in by_category.items()}
    chosen: list[tuple[Candidate, int]] = []
    rank = 0
    while len(chosen) < n and any(len(q) > rank for q in queues.values()):
        batch = sorted((q[rank] for q in queues.values() if len(q) > rank), key=lambda k: (k.margin, k.index))
        chosen += [(k, rank + 1) for k in batch[: n - len(chosen)]]
        rank += 1
    return chosen


def _drop_near_duplicates(pool: list[Candidate], texts: Sequence[str], threshold: float) -> list[Candidate]:
    """Keep the least certain candidate of each group of near-duplicate texts; count the others on it."""
    # scikit-learn: only this command needs it
    from .near_duplicates import near_duplicate_groups

    groups = near_duplicate_groups([texts[k.index] for k in pool], threshold)
    best: dict[int, Candidate] = {}
    size: dict[int, int] = defaultdict(int)
    for k, g in zip(pool, groups):
        size[g] += 1
        if g not in best or (k.margin, k.index) < (best[g].margin, best[g].index):
            best[g] = k
    for g, k in best.items():
        k.duplicates = size[g] - 1
    return sorted(best.values(), key=lambda k: k.index)


def _why(k: Candidate, rank: int) -> str:
    p = k.prediction
    if k.margin >= 1.0:
        doubt = "两个判断都只有一个候选答案"
    elif k.head == "category":
        other = p.alternatives[0]
        doubt = (f"类别拿不准：{p.name or p.category} {p.category_score:.2f}，"
                 f"{other.name or other.category} {other.score:.2f}（差 {k.category_margin:.2f}）")
    else:
        a, b = p.unit_alternatives[:2]
        doubt = (f"单位拿不准：{a['unit_name']} {a['score']:.2f}，{b['unit_name']} {b['score']:.2f}"
                 f"（差 {k.unit_margin:.2f}）")
    parts = [doubt, f"本类别第 {rank} 封"]
    if k.duplicates:
        parts.append(f"另有 {k.duplicates} 封相近来信未选")
    return "；".join(parts)


def suggest(model: Any, texts: Sequence[str], ids: Sequence[Any] | None = None, n: int = 200, *,
            duplicate_threshold: float = DUPLICATE_THRESHOLD) -> list[dict[str, Any]]:
    """The ``n`` letters (or fewer) to label first, as rows of :data:`COLUMNS`, least certain first.

    ``texts`` are classified with ``model`` (unusable ones are skipped); ``ids`` name them in the result (default:
    their 1-based row numbers). Texts in the result are masked (:func:`triage.text.mask_pii`).
    """
    if n < 1:
        raise DataError(f"Asked for {n} letters; ask for at least 1 (e.g. -n 200).")
    texts = ["" if t is None else str(t) for t in texts]
    ids = list(range(1, len(texts) + 1)) if ids is None else list(ids)
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
    preds = model.classify_many(texts, top_k=2, evidence=False, errors="return")
    by_category: dict[str, list[Candidate]] = defaultdict(list)
    for i, p in enumerate(preds):
        if not isinstance(p, Exception):
            by_category[str(p.category or p.unit)].append(Candidate(i, p, *margins(p)))
    pool_size = POOL_FACTOR * n
    pool = [k for v in by_category.values() for k in sorted(v, key=lambda k: (k.margin, k.index))[:pool_size]]
    if not pool:
        raise DataError("None of the texts could be classified (all empty or unusable); nothing to suggest.")
    kept = _drop_near_duplicates(pool, texts, duplicate_threshold) if len(pool) > 1 else pool
    grouped: dict[str, list[Candidate]] = defaultdict(list)
    for k in kept:
        grouped[str(k.prediction.category or k.prediction.unit)].append(k)
    chosen = _round_robin(grouped, n)
    rows = []
    for k, rank in sorted(chosen, key=lambda c: (c[0].margin, c[0].index)):
        p = k.prediction
        second_cat = p.alternatives[0].category if p.alternatives else ""
        second_unit = p.unit_alternatives[1]["unit"] if len(p.unit_alternatives) >= 2 else ""
        rows.append({
            "id": ids[k.index], "text": mask_pii(texts[k.index]), "category": p.category, "category_name": p.name,
            "category_score": p.category_score, "category_margin": k.category_margin, "second_category": second_cat,
            "unit": p.unit, "unit_name": p.unit_name, "unit_score": p.unit_score, "unit_margin": k.unit_margin,
            "second_unit": second_unit, "margin": k.margin, "why": _why(k, rank),
        })
    return rows
