"""POST /v1/classify and /v1/classify/batch: thin wrappers over ``model.classify_many``."""
from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request

from triage.errors import InputTextError, InvalidTextError, TextTooLongError

from .. import errors
from ..deps import ClassifierDep, ModelDep, SettingsDep, model_ref
from ..schemas import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    ClassifyIn,
    ClassifyOut,
    ItemError,
    PredictionOut,
)

router = APIRouter(prefix="/classify", tags=["classify"])


def _api_error(err: InputTextError, text: str, max_chars: int) -> errors.ApiError:
    """The HTTP error for a text the model refused (413 too long, 422 invalid or empty)."""
    if isinstance(err, TextTooLongError):
        return errors.text_too_long(len(text), max_chars)
    if isinstance(err, InvalidTextError):
        return errors.invalid_text()
    return errors.empty_text()


@router.post("", response_model=ClassifyOut, summary="Classify one letter")
async def classify_one(
    body: ClassifyIn, request: Request, model: ModelDep, settings: SettingsDep, classifier: ClassifierDep
) -> ClassifyOut:
    """Category (with alternatives), responsible unit (and how it was found), evidence spans, review flag."""
    [pred] = await classifier.classify(model, [body.text], top_k=body.top_k, max_chars=settings.max_text_chars)
    if isinstance(pred, InputTextError):
        raise _api_error(pred, body.text, settings.max_text_chars)
    rid = request.state.request_id
    request.state.log = f"category={pred.category} unit={pred.unit} review={int(pred.needs_review)}"
    return ClassifyOut(**pred.to_dict(), model=model_ref(model), request_id=rid)


@router.post("/batch", response_model=BatchOut, summary="Classify several letters")
async def classify_batch(
    body: BatchIn, request: Request, model: ModelDep, settings: SettingsDep, classifier: ClassifierDep
) -> BatchOut:
    """Results in the order sent, each with its id. A bad item gets its own ``error``; the others still run."""
    if len(body.items) > settings.max_batch_items:
        raise errors.ApiError(
            413, "batch_too_large",
            f"一次最多 {settings.max_batch_items} 条，本次 {len(body.items)} 条。请分批提交。",
            f"{len(body.items)} items; at most {settings.max_batch_items} per request. Split the batch.",
        )
    results = await classifier.classify(
        model, [item.text for item in body.items], top_k=body.top_k, max_chars=settings.max_text_chars
    )
    out = []
    preds = []
    for item, res in zip(body.items, results):
        if isinstance(res, InputTextError):
            err = _api_error(res, item.text, settings.max_text_chars)
            out.append(BatchItemOut(id=item.id, error=ItemError(
                code=err.code, message=f"{err.zh} {err.en}", message_zh=err.zh, message_en=err.en)))
        else:
            preds.append(res)
            out.append(BatchItemOut(id=item.id, result=PredictionOut(**res.to_dict())))
    n_errors = len(body.items) - len(preds)
    cats = Counter(p.category for p in preds)
    units = Counter(p.unit for p in preds)
    request.state.log = (f"items={len(body.items)} errors={n_errors} "
                         f"categories={dict(cats.most_common(5))} units={dict(units.most_common(5))}")
    return BatchOut(items=out, errors=n_errors, model=model_ref(model), request_id=request.state.request_id)
