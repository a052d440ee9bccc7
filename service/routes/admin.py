"""POST /v1/admin/reload, and SIGHUP: load the model again from its directory without dropping a request.

The new model loads in a worker thread while the old one keeps serving; then ``app.state.model`` is swapped
in one assignment. A request that already holds the old model finishes on it. With ``--workers N`` send
SIGHUP to each worker (uvicorn's supervisor restarts its workers on SIGHUP instead, also without dropping
requests), or call the route once per worker.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request

from .. import errors
from ..deps import require_role
from ..inference import load_model, model_sha
from ..roles import Caller
from ..schemas import error_responses
from ..schemas_letters import ReloadOut

log = logging.getLogger("service")
router = APIRouter(prefix="/admin", tags=["admin"])


async def reload_model(app: FastAPI, by: str) -> dict[str, Any]:
    """Load the model again and swap it in; the old one serves until then (and on failure, after)."""
    lock = getattr(app.state, "reload_lock", None)
    if lock is None:  # no await between the look and the set: one lock per app
        lock = app.state.reload_lock = asyncio.Lock()
    async with lock:
        t0 = time.perf_counter()
        old = getattr(app.state, "model", None)
        model = await anyio.to_thread.run_sync(load_model, app.state.settings, "model reload")
        app.state.model, app.state.model_error = model, None  # the swap: one assignment
        out = {"previous_sha256": model_sha(old), "sha256": model_sha(model), "name": str(model.manifest.get("name", "?")),
               "seconds": round(time.perf_counter() - t0, 3)}
        log.info("model reloaded by %s: %s -> %s in %.1fs", by, out["previous_sha256"][:12], out["sha256"][:12],
                 out["seconds"])
        store = getattr(app.state, "store", None)
        if store is not None:
            await anyio.to_thread.run_sync(lambda: store.record_event("reload", out, by=by))
        return out


@router.post("/reload", response_model=ReloadOut, responses=error_responses(403), summary="Reload the model")
async def reload(request: Request, caller: Annotated[Caller, Depends(require_role("admin"))]) -> ReloadOut:
    """Load the model from its directory again (e.g. after ``triage promote``) without dropping requests."""
    try:
        out = await reload_model(request.app, by=caller.name)
    except Exception as e:  # noqa: BLE001 - the old model keeps serving; say why the new one did not load
        raise errors.ApiError(
            503, "reload_failed", "新模型加载失败，仍在使用原模型。请检查模型目录。",
            f"The model could not be loaded, the previous one keeps serving: {type(e).__name__}: {e}") from None
    return ReloadOut(**out)


@contextlib.contextmanager
def listen_for_sighup(app: FastAPI) -> Iterator[None]:
    """While the app runs, SIGHUP reloads the model (only where signals can be handled: the main thread of a
    process with an event loop, as under uvicorn; elsewhere, e.g. in a test client, nothing is installed)."""
    loop = asyncio.get_running_loop()

    def on_sighup() -> None:
        task = loop.create_task(reload_model(app, by="SIGHUP"))
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or log.error(
            "model reload on SIGHUP failed, the previous model keeps serving: %s", t.exception()))

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (RuntimeError, ValueError, NotImplementedError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
