"""Request and response bodies of the review desk (``/v1/letters``, ``/v1/desk``, ``/v1/admin``, ``/v1/whoami``).

``LetterOut`` mirrors :meth:`triage.store.Letter.to_dict` field for field.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .schemas import AlternativeOut, EvidenceOut, ItemError, UnitAlternativeOut

_EXAMPLE = "东坝派出所户籍窗口下午三点就没人了，等了一下午也没办成。"
Source = Literal["box", "hotline", "web", "batch", "other"]
Status = Literal["routed", "needs_review", "reviewed"]


# -- input ----------------------------------------------------------------------------------------------------
class LetterIn(BaseModel):
    """One letter to keep and route. A ``received_at`` without a time zone is read as UTC."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": _EXAMPLE, "source": "box"}]})

    text: str = Field(description="the letter as received (stored masked unless raw storage is on)")
    source: Source = Field("other", description="where it came from")
    received_at: dt.datetime | None = Field(None, description="when it was received (ISO 8601); default: now")


class LettersIn(BaseModel):
    """Several letters in one call (at most ``TRIAGE_MAX_BATCH_ITEMS``)."""

    model_config = ConfigDict(extra="forbid")

    items: list[LetterIn] = Field(min_length=1)


class ReviewIn(BaseModel):
    """Confirm (the model's labels) or correct (other labels). ``version`` is the letter's as last read."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"category": "slow", "unit": "police", "note": "", "version": 1}]})

    category: str = Field(min_length=1, max_length=32)
    unit: str = Field(min_length=1, max_length=64)
    note: str = Field("", max_length=2000)
    version: int = Field(ge=1, le=2**31 - 1)


# -- output ---------------------------------------------------------------------------------------------------
class ReviewOut(BaseModel):
    category: str
    unit: str
    by: str
    at: str
    note: str
    corrected: bool = Field(description="the final labels differ from the model's")


class LetterOut(BaseModel):
    id: int
    received_at: str
    source: str
    text: str | None = Field(description="masked unless raw storage is on; null after the retention purge")
    category: str | None = Field(description="the model's category (the review holds the final one)")
    category_name: str
    char: str
    category_score: float
    unit: str | None
    unit_name: str
    unit_score: float
    unit_source: str
    alternatives: list[AlternativeOut]
    unit_alternatives: list[UnitAlternativeOut]
    evidence: list[EvidenceOut] = Field(description="offsets into the stored text")
    review_reasons: list[str]
    model_sha: str
    status: Status
    due_at: str
    overdue: bool = Field(description="waiting for review past its due date (computed when read)")
    repeat_of: int | None = Field(description="the first letter of the case this letter repeats")
    repeats: int = Field(description="letters linked to this one as repeats")
    version: int
    review: ReviewOut | None


class LetterItemOut(BaseModel):
    """Either a stored letter's fields or ``error``."""

    model_config = ConfigDict(extra="allow")

    error: ItemError | None = None


class LettersOut(BaseModel):
    items: list[LetterOut | LetterItemOut]


class LetterPage(BaseModel):
    items: list[LetterOut]
    total: int
    limit: int
    offset: int


class StatsOut(BaseModel):
    total: int
    by_status: dict[str, int]
    reviewed: int
    corrected: int = Field(description="reviewed with labels other than the model's")
    queue: int = Field(description="waiting for review, repeats left out (what the queue lists)")
    overdue: int = Field(description="in the queue past the due date")
    repeats: int = Field(description="letters linked to an earlier case")


class WhoAmIOut(BaseModel):
    name: str
    role: Literal["desk", "viewer", "admin"]


class ReloadOut(BaseModel):
    previous_sha256: str
    sha256: str
    name: str
    seconds: float
