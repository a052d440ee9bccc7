"""Request and response bodies. Output mirrors :meth:`triage.Prediction.to_dict` field for field."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_EXAMPLE = "东坝派出所户籍窗口下午三点就没人了，等了一下午也没办成。"


# -- input ----------------------------------------------------------------------------------------------------
class ClassifyIn(BaseModel):
    """One letter to classify. Length is capped by the ``TRIAGE_MAX_TEXT_CHARS`` setting (413 beyond)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"text": _EXAMPLE, "top_k": 3}]})

    text: str = Field(description="the letter, as received; evidence offsets index into it")
    top_k: int = Field(3, ge=1, le=20, description="how many categories to rank (the top one plus alternatives)")


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str | int = Field(description="the caller's id, echoed back")
    text: str


class BatchIn(BaseModel):
    """Several letters; at most ``TRIAGE_MAX_BATCH_ITEMS`` (413 beyond)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"items": [{"id": "a1", "text": _EXAMPLE}], "top_k": 3}]}
    )

    items: list[BatchItemIn] = Field(min_length=1)
    top_k: int = Field(3, ge=1, le=20)


# -- output ---------------------------------------------------------------------------------------------------
class AlternativeOut(BaseModel):
    category: str
    char: str
    name: str
    score: float


class UnitAlternativeOut(BaseModel):
    unit: str
    unit_name: str
    score: float


class EvidenceOut(BaseModel):
    """``text[start:end] == term`` in the text as sent (offsets count Unicode code points)."""

    term: str
    start: int
    end: int
    head: Literal["category", "unit"]
    weight: float


class ModelRef(BaseModel):
    name: str
    sha256: str = Field(description="first 12 hex digits of the model file's sha256")


class PredictionOut(BaseModel):
    category: str | None
    char: str
    name: str
    category_score: float
    alternatives: list[AlternativeOut]
    unit: str | None
    unit_name: str
    unit_score: float
    unit_source: Literal["mention", "inferred", "none"] = Field(
        description="mention: named in the text; inferred: from the service described; none: undetermined"
    )
    unit_alternatives: list[UnitAlternativeOut]
    evidence: list[EvidenceOut]
    needs_review: bool
    review_reasons: list[str]


class ClassifyOut(PredictionOut):
    model: ModelRef
    request_id: str


class ItemError(BaseModel):
    code: str
    message: str
    message_zh: str
    message_en: str


class BatchItemOut(BaseModel):
    """Either ``result`` or ``error`` is set."""

    id: str | int
    result: PredictionOut | None = None
    error: ItemError | None = None


class BatchOut(BaseModel):
    items: list[BatchItemOut]
    errors: int
    model: ModelRef
    request_id: str


class CategoryOut(BaseModel):
    id: str
    char: str
    name: str
    trained: bool = Field(description="the model can predict it")


class UnitOut(BaseModel):
    id: str
    name: str
    type: str
    short_names: list[str]
    aliases: list[str]
    covers: list[str]
    trained: bool


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    sha256: str
    thresholds: dict[str, float] = Field(description="review thresholds in force (after any override)")
    manifest: dict[str, Any]


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error: a stable ``code`` and the message in Chinese and English."""

    code: str = Field(description="stable, e.g. empty_text, text_too_long, unauthorized, model_not_loaded")
    message: str = Field(description="message_zh and message_en together")
    message_zh: str
    message_en: str
    request_id: str | None
    details: list[ErrorDetail] | None = Field(None, description="for invalid_request: where and what (never the input)")


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for these status codes, all with the :class:`ErrorOut` body."""
    text = {401: "API keys are set and the Bearer key is missing or wrong", 413: "text, batch or body over its cap",
            422: "empty text or a malformed request", 501: "not part of this build", 503: "model not loaded"}
    return {c: {"model": ErrorOut, "description": text.get(c, "error")} for c in codes}


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    model: ModelRef
