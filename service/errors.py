"""JSON errors with a stable ``code`` and a message in Chinese and English; never a 500 for bad input.

Every error body looks like::

    {"code": "text_too_long", "message": "<中文> <English>", "message_zh": "...", "message_en": "...",
     "request_id": "..."}
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("service")


class ApiError(HTTPException):
    """An error the API reports on purpose. A subclass of HTTPException, so FastAPI never rewraps it."""

    def __init__(
        self,
        status_code: int,
        code: str,
        zh: str,
        en: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=en, headers=headers)
        self.code, self.zh, self.en, self.details = code, zh, en, details


def model_not_loaded(reason: str) -> ApiError:
    return ApiError(
        503, "model_not_loaded",
        "模型未加载，暂时无法分类。请管理员查看 /readyz 所示原因并修复模型目录。",
        f"The model is not loaded, so nothing can be classified. Fix the model directory and restart: {reason}",
    )


def text_too_long(chars: int, limit: int) -> ApiError:
    return ApiError(
        413, "text_too_long",
        f"信件共 {chars:,} 字，超过上限 {limit:,} 字。请分段提交。",
        f"Text is {chars:,} characters; the limit is {limit:,}. Split it into parts.",
    )


def empty_text() -> ApiError:
    return ApiError(
        422, "empty_text",
        "信件内容为空或只有空白字符，无法分类。请粘贴信件正文。",
        "Text is empty or holds only white space; send the letter's text.",
    )


def invalid_text() -> ApiError:
    return ApiError(
        422, "invalid_text",
        "信件含有无法编码的字符（孤立的 UTF-16 代理码位）。请以 UTF-8 重新提交。",
        "Text holds lone surrogate code points (broken UTF-16); re-encode it as UTF-8.",
    )


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        413, "body_too_large",
        f"请求体超过上限 {limit:,} 字节。请减少条数或分批提交。",
        f"Request body is over the {limit:,}-byte limit. Send fewer or shorter items per request.",
    )


def unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized",
        "缺少或错误的访问密钥。请在请求头中加入 Authorization: Bearer <密钥>。",
        "Missing or wrong API key. Send the header `Authorization: Bearer <key>`.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(role: str, action: str) -> ApiError:
    return ApiError(
        403, "forbidden",
        f"当前密钥的角色（{role}）无权执行此操作。请使用复核员（desk）或管理员（admin）密钥。",
        f"The key's role ({role}) may not {action} here. Use a desk or admin key as the operation needs.",
    )


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求无法解析。", "The request could not be parsed."),
    404: ("not_found", "没有这个地址。接口见 /docs。", "No such route. See /docs for the API."),
    405: ("method_not_allowed", "该地址不支持此请求方法。接口见 /docs。", "Method not allowed on this route. See /docs."),
    413: ("body_too_large", "请求体过大。", "Request body too large."),
}


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_body(code: str, zh: str, en: str, request_id: str | None, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": f"{zh} {en}", "message_zh": zh, "message_en": en,
                            "request_id": request_id}
    if details:
        body["details"] = details
    return body


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    body = error_body(exc.code, exc.zh, exc.en, _request_id(request), exc.details)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI could not parse the body (e.g. not UTF-8): bad input is a 422
        body = error_body("invalid_request", "请求体无法解析：请发送 UTF-8 编码的 JSON。",
                          "The request body could not be parsed; send UTF-8 encoded JSON.", _request_id(request))
        return JSONResponse(body, status_code=422)
    code, zh, en = _HTTP_CODES.get(exc.status_code, ("http_error", "请求失败。", str(exc.detail)))
    return JSONResponse(error_body(code, zh, en, _request_id(request)), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Only where and what: pydantic's "input" would echo the complaint text back (and into any log).
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    where = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details[:5])
    body = error_body(
        "invalid_request",
        "请求格式不对：字段缺失、类型错误或取值超出范围。详见 details。",
        f"The request does not match the schema ({where}). See /docs.",
        _request_id(request), details,
    )
    return JSONResponse(body, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error request_id=%s path=%s", _request_id(request), request.url.path)
    body = error_body(
        "internal_error",
        "服务内部错误，已记录。请把 request_id 告知管理员。",
        "Internal error; it has been logged. Quote the request_id to the administrator.",
        _request_id(request),
    )
    return JSONResponse(body, status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
