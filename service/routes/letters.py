"""The review desk's letters: intake (classify, store, route), the queue, one letter, review, export, stats.

Store calls block, so they run in worker threads (``anyio.to_thread``); classification goes through the
shared micro-batching :class:`service.inference.Classifier` and storing through the group-committing
:class:`service.intake.IntakeWriter`. Nothing here logs a letter's text.
"""
from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from triage.errors import InputTextError

from .. import errors
from ..deps import ClassifierDep, ModelDep, SettingsDep, require_role
from ..inference import model_sha
from ..intake import IntakeWriter
from ..roles import Caller
from ..schemas import ItemError, error_responses
from ..schemas_letters import (
    LetterIn,
    LetterOut,
    LetterPage,
    LettersIn,
    LettersOut,
    ReviewIn,
    StatsOut,
    Status,
    WhoAmIOut,
)
from .classify import _api_error

router = APIRouter(tags=["review desk"])
#: A received_at further in the future than this is refused (a wrong clock or a typo).
FUTURE_SLACK = dt.timedelta(hours=1)
#: Dates before this year are typos (and far-off dates overflow date arithmetic).
EARLIEST_YEAR = 1990
#: Ids are 32-bit integers in PostgreSQL; a larger one names no letter.
MAX_ID = 2**31 - 1
LetterId = Annotated[int, Path(ge=1, le=MAX_ID, description="the letter's id")]


def store_unavailable(reason: str) -> errors.ApiError:
    return errors.ApiError(
        503, "store_unavailable",
        "信件库不可用，无法保存或查询信件。请管理员检查数据库设置（TRIAGE_DB_URL）。",
        f"The letter store is not available: {reason}",
    )


def letter_not_found(letter_id: int) -> errors.ApiError:
    return errors.ApiError(404, "letter_not_found", f"没有编号为 {letter_id} 的信件。",
                           f"No letter has id {letter_id}.")


async def get_store(request: Request):
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise store_unavailable(getattr(request.app.state, "store_error", None) or "not opened yet")
    return store


StoreDep = Annotated[Any, Depends(get_store)]
Reader = Annotated[Caller, Depends(require_role("read"))]
Writer = Annotated[Caller, Depends(require_role("write"))]
Admin = Annotated[Caller, Depends(require_role("admin"))]


def _as_utc(t: dt.datetime, field: str) -> dt.datetime:
    """``t`` in UTC (naive: read as UTC); 422 for a date too far from today to be real."""
    try:
        t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
        if t.year >= EARLIEST_YEAR:
            return t
    except (OverflowError, ValueError):
        pass
    raise errors.ApiError(422, f"invalid_{field}", f"{field} 日期无效（须在 {EARLIEST_YEAR} 年之后）。",
                          f"{field} is not a plausible date (it must lie after {EARLIEST_YEAR}); use ISO 8601, "
                          "e.g. 2026-03-01T09:30:00+08:00.")


def _check_received(item: LetterIn, now: dt.datetime) -> dt.datetime | None:
    if item.received_at is None:
        return None
    t = _as_utc(item.received_at, "received_at")
    if t > now + FUTURE_SLACK:
        raise errors.ApiError(422, "invalid_received_at", "收信时间晚于当前时间，请检查日期。",
                              "received_at lies in the future; check the date (ISO 8601, e.g. 2026-03-01T09:30:00+08:00).")
    return t


@router.post("/letters", status_code=201, response_model=LetterOut | LettersOut,
             responses=error_responses(403), summary="Keep, classify and route letters")
async def intake(body: LetterIn | LettersIn, request: Request, model: ModelDep, settings: SettingsDep,
                 classifier: ClassifierDep, caller: Writer, store: StoreDep) -> Any:
    """One letter (``{"text": ..., "source": ...}``) → 201 the stored letter; ``{"items": [...]}`` → 201
    ``{"items": [...]}`` in the order sent, each a stored letter or an ``error`` (the others are still kept)."""
    items = body.items if isinstance(body, LettersIn) else [body]
    if len(items) > settings.max_batch_items:
        raise errors.ApiError(
            413, "batch_too_large",
            f"一次最多 {settings.max_batch_items} 条，本次 {len(items)} 条。请分批提交。",
            f"{len(items)} items; at most {settings.max_batch_items} per request. Split the batch.")
    now = dt.datetime.now(dt.UTC)
    received = [_check_received(item, now) for item in items]
    preds = await classifier.classify(model, [i.text for i in items], top_k=3, max_chars=settings.max_text_chars)
    good = [k for k, p in enumerate(preds) if not isinstance(p, InputTextError)]
    if not isinstance(body, LettersIn) and not good:
        raise _api_error(preds[0], items[0].text, settings.max_text_chars)
    metas = [{"text": items[k].text, "source": items[k].source, "received_at": received[k]} for k in good]
    writer = getattr(request.app.state, "intake_writer", None) or IntakeWriter()  # not started: writes alone
    stored = await writer.add(store, metas, [preds[k] for k in good], model_sha(model), caller.name) if good else []
    request.state.log = (f"letters={len(stored)} errors={len(items) - len(good)} ids={[s.id for s in stored][:10]} "
                         f"needs_review={sum(s.status == 'needs_review' for s in stored)}")
    if not isinstance(body, LettersIn):
        return stored[0].to_dict()
    out: list[Any] = []
    by_pos = dict(zip(good, stored))
    for k, item in enumerate(items):
        if k in by_pos:
            out.append(by_pos[k].to_dict())
        else:
            err = _api_error(preds[k], item.text, settings.max_text_chars)
            out.append({"error": ItemError(code=err.code, message=f"{err.zh} {err.en}", message_zh=err.zh,
                                           message_en=err.en).model_dump()})
    return {"items": out}


@router.get("/letters", response_model=LetterPage, summary="List letters (the review queue)")
async def list_letters(
    caller: Reader, store: StoreDep, request: Request,
    status: Status | None = None, unit: str | None = None, category: str | None = None,
    since: Annotated[dt.datetime | None, Query(description="received at or after (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    include_repeats: Annotated[bool, Query(description="needs_review: also the letters that repeat a case")] = False,
) -> dict[str, Any]:
    """``status=needs_review``: overdue first, then least certain, then oldest (repeats left out);
    ``status=reviewed``: newest review first; otherwise newest first. ``unit``/``category`` match final labels.
    Routes return plain dicts: the response model validates them once (not twice, as a model instance is)."""
    if since is not None:
        since = _as_utc(since, "since")
    found, total = await anyio.to_thread.run_sync(lambda: store.list(
        status=status, unit=unit or None, category=category or None, since=since, limit=limit, offset=offset,
        include_repeats=include_repeats))
    request.state.log = f"status={status} total={total}"
    return {"items": [x.to_dict() for x in found], "total": total, "limit": limit, "offset": offset}


@router.get("/letters/export", summary="Reviewed letters as a training CSV", responses={
    200: {"content": {"text/csv": {}}, "description": "id,text,category,unit,model_category,model_unit,..."}})
async def export(caller: Admin, store: StoreDep, request: Request) -> Response:
    """Every reviewed letter with its final labels (``text,category,unit`` as ``triage train`` reads them)."""
    from triage.store.export import write_corrections

    def build() -> tuple[str, int, int]:
        buf = io.StringIO()
        written, skipped = write_corrections(store.reviewed(), buf)
        return buf.getvalue(), written, skipped

    data, written, skipped = await anyio.to_thread.run_sync(build)
    request.state.log = f"rows={written} skipped_purged={skipped}"
    return Response(data.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="corrections.csv"'})


@router.get("/letters/{letter_id}", response_model=LetterOut, responses=error_responses(404), summary="One letter")
async def get_letter(letter_id: LetterId, caller: Reader, store: StoreDep) -> dict[str, Any]:
    from triage.store import LetterNotFound

    try:
        letter = await anyio.to_thread.run_sync(store.get, letter_id)
    except LetterNotFound:
        raise letter_not_found(letter_id) from None
    return letter.to_dict()


def _known_labels(model: Any) -> tuple[set[str], set[str]]:
    """What a clerk may pick: every category the page offers (/v1/categories) or the model predicts, and every
    registry unit (or ``unknown``)."""
    labels = (getattr(model, "manifest", None) or {}).get("labels", {})
    categories = {c.id for c in getattr(model, "categories", ())} | set(labels.get("category", []))
    return categories, set(model.registry.ids) | set(labels.get("unit", [])) | {"unknown"}


@router.post("/letters/{letter_id}/review", response_model=LetterOut, responses=error_responses(403, 404, 409),
             summary="Confirm or correct a letter's routing")
async def review(letter_id: LetterId, body: ReviewIn, request: Request, model: ModelDep, caller: Writer,
                 store: StoreDep) -> dict[str, Any]:
    """409 ``review_conflict`` if ``version`` is not the letter's current one (someone reviewed it first)."""
    from triage.store import LetterNotFound, ReviewConflict

    categories, units = _known_labels(model)
    bad = [f"category {body.category!r}"] if body.category not in categories else []
    bad += [f"unit {body.unit!r}"] if body.unit not in units else []
    if bad:
        raise errors.ApiError(422, "unknown_label", "类别或责任单位不在模型的清单中。请从 /v1/categories、/v1/units 中选择。",
                              f"Unknown {' and '.join(bad)}; pick from /v1/categories and /v1/units.")
    try:
        letter = await anyio.to_thread.run_sync(lambda: store.review(
            letter_id, version=body.version, category=body.category, unit=body.unit, by=caller.name,
            note=body.note))
    except LetterNotFound:
        raise letter_not_found(letter_id) from None
    except ReviewConflict as e:
        raise errors.ApiError(
            409, "review_conflict", f"这封信已被他人复核（当前版本 {e.current}，您提交的是 {e.given}）。请刷新后再看。",
            f"Letter {letter_id} was reviewed by someone else (version {e.current}, you sent {e.given}); "
            "reload it.") from None
    request.state.log = f"letter={letter_id} corrected={int(bool(letter.review and letter.review.corrected))}"
    return letter.to_dict()


@router.get("/desk/stats", response_model=StatsOut, summary="Counters for the desk")
async def stats(caller: Reader, store: StoreDep) -> StatsOut:
    return StatsOut(**await anyio.to_thread.run_sync(store.stats))


@router.get("/whoami", response_model=WhoAmIOut, summary="The caller's name and role")
def whoami(caller: Reader) -> WhoAmIOut:
    return WhoAmIOut(name=caller.name, role=caller.role)
