"""POST /v1/files/label: upload a CSV/XLSX/JSONL/Parquet file, download it labelled.

Uses the same code as ``triage batch`` (:func:`triage.batch.label_file`), imported when a request comes, so
the route answers 501 ``batch_unavailable`` on a build without it instead of failing at start-up.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from triage.errors import TriageError

from .. import errors
from ..deps import ModelDep
from ..schemas import error_responses

PATH = "/files/label"
#: Response header carrying the run's summary as ASCII JSON (rows, errors, needs_review, by_category, ...).
SUMMARY_HEADER = "X-Triage-Summary"
_SUMMARY_KEYS = ("rows", "errors", "needs_review", "seconds", "by_category", "by_unit", "error_rows")

router = APIRouter(tags=["files"])


def _batch_module() -> Any:
    try:
        return importlib.import_module("triage.batch")
    except ImportError:
        raise errors.ApiError(
            501, "batch_unavailable",
            "此版本尚未包含批量标注功能（triage.batch），暂不能上传文件。请改用“粘贴信件”或升级。",
            "File labelling (triage.batch) is not part of this build; use /v1/classify/batch or upgrade.",
        ) from None


def summary_dict(summary: Any) -> dict[str, Any]:
    """The summary's main fields as plain JSON-able values, whatever type ``label_file`` returned."""
    if hasattr(summary, "to_dict"):
        summary = summary.to_dict()
    elif dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        summary = dataclasses.asdict(summary)
    elif not isinstance(summary, Mapping):
        summary = {k: getattr(summary, k) for k in _SUMMARY_KEYS if hasattr(summary, k)}
    return json.loads(json.dumps({k: summary[k] for k in _SUMMARY_KEYS if k in summary}, default=str))


def _columns(spec: str) -> list[str]:
    """``"title,text"`` → ``["title", "text"]`` (several columns are joined by the batch labeller)."""
    return [c.strip() for c in spec.split(",") if c.strip()] or ["text"]


def _download_name(filename: str, suffix: str) -> str:
    stem = Path(filename).stem.replace('"', "").replace("\\", "").strip() or "letters"
    return f"{stem[:100]}_labelled{suffix}"


@router.post(
    PATH,
    summary="Label an uploaded file",
    response_class=FileResponse,
    responses={200: {"description": f"the labelled file; the summary is in the {SUMMARY_HEADER} header",
                      "content": {"application/octet-stream": {}}},
               **error_responses(501)},
)
async def label_upload(
    request: Request,
    model: ModelDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK), XLSX, JSONL or Parquet")],
    text_col: Annotated[str, Form(min_length=1, max_length=400, description="text column; several: title,text")] = "text",
    id_col: Annotated[str | None, Form(max_length=200)] = None,
) -> FileResponse:
    """Adds the category, unit, scores and review flag to every row; returns a file of the same format."""
    batch = _batch_module()
    from triage.io import (
        FORMATS,  # pandas, like the batch code: loaded with the first upload, not at start-up
    )

    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in FORMATS:
        raise errors.ApiError(
            422, "unsupported_file",
            f"不支持的文件类型“{suffix or '无扩展名'}”。请上传 CSV 或 XLSX 文件。",
            f"Unsupported file type {suffix or '(no extension)'!r}; upload one of {', '.join(sorted(FORMATS))}.",
        )
    tmp = Path(tempfile.mkdtemp(prefix="triage-upload-"))
    try:
        src, dst = tmp / f"input{suffix}", tmp / f"labelled{suffix}"
        with open(src, "wb") as f:
            await run_in_threadpool(shutil.copyfileobj, file.file, f)
        try:
            summary = await run_in_threadpool(
                batch.label_file, src, dst, model=model, text_cols=_columns(text_col), id_col=id_col or None,
                jobs=1, engine="local", progress=False,
            )
        except TriageError as e:
            raise errors.ApiError(
                422, "invalid_file",
                "文件无法读取或缺少信件正文列。请检查文件格式和“正文列名”。",
                str(e).replace(str(src), file.filename or "upload"),
            ) from None
        info = summary_dict(summary)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    request.state.log = f"rows={info.get('rows')} errors={info.get('errors')} needs_review={info.get('needs_review')}"
    return FileResponse(
        dst,
        filename=_download_name(file.filename or "letters", suffix),
        headers={SUMMARY_HEADER: json.dumps(info, ensure_ascii=True, separators=(",", ":"))},
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )
