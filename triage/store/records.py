"""What the store hands out: a :class:`Letter` (its JSON is the API's) and an audit :class:`Event`."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATUSES = ("routed", "needs_review", "reviewed")
SOURCES = ("box", "hotline", "web", "batch", "other")


def iso(t: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``-free ``+00:00`` offset, or None."""
    return None if t is None else utc(t).isoformat()


def utc(t: dt.datetime) -> dt.datetime:
    """``t`` as an aware UTC time (SQLite hands back naive times: they were stored as UTC)."""
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


@dataclass
class Review:
    category: str
    unit: str
    by: str
    at: dt.datetime
    note: str
    corrected: bool


@dataclass
class Letter:
    """One stored letter: the model's routing, its deadline, repeat link and review."""

    id: int
    received_at: dt.datetime
    source: str
    text: str | None
    category: str | None
    category_name: str
    char: str
    category_score: float
    unit: str | None
    unit_name: str
    unit_score: float
    unit_source: str
    alternatives: list[dict[str, Any]]
    unit_alternatives: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    review_reasons: list[str]
    model_sha: str
    status: str
    due_at: dt.datetime
    overdue: bool
    repeat_of: int | None
    repeats: int
    version: int
    review: Review | None = None

    @property
    def final_category(self) -> str | None:
        return self.review.category if self.review else self.category

    @property
    def final_unit(self) -> str | None:
        return self.review.unit if self.review else self.unit

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON: times as ISO 8601 UTC strings. Shallow (``asdict`` deep-copied every evidence span,
        which made listing 50 letters ten times slower): the lists are the letter's own."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["received_at"], d["due_at"] = iso(self.received_at), iso(self.due_at)
        if self.review:
            d["review"] = {f.name: getattr(self.review, f.name) for f in fields(self.review)}
            d["review"]["at"] = iso(self.review.at)
        return d


@dataclass
class Event:
    """One line of the audit trail (never changed or deleted: the database refuses it)."""

    id: int
    kind: str
    letter_id: int | None
    by: str | None
    at: dt.datetime
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": iso(self.at)}
