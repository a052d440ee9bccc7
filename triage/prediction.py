"""What triage says about a letter: the result objects shared by the library, the CLI and the API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        """The prediction as plain data (what :func:`dataclasses.asdict` gives, without its deep copies)."""
        d = dict(self.__dict__)
        d["alternatives"] = [dict(a.__dict__) for a in self.alternatives]
        d["evidence"] = [dict(e.__dict__) for e in self.evidence]
        d["unit_alternatives"] = [dict(u) for u in self.unit_alternatives]
        d["review_reasons"] = list(self.review_reasons)
        return d


#: Columns of :meth:`Predictor.classify_table <triage.predictor.Predictor.classify_table>`, in this order.
TABLE_COLUMNS = [
    "category", "category_name", "category_score", "unit", "unit_name", "unit_score", "unit_source",
    "needs_review", "error",
]


@dataclass(frozen=True)
class CategoryInfo:
    id: str
    char: str
    name: str
