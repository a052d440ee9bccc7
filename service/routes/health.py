"""GET /healthz (the process answers) and /readyz (the model is loaded). Open even when API keys are set."""
from __future__ import annotations

from fastapi import APIRouter, Request

from .. import errors
from ..deps import model_ref
from ..schemas import HealthOut, ReadyOut, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, responses=error_responses(503))
def readyz(request: Request) -> ReadyOut:
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise errors.model_not_loaded(request.app.state.model_error or "not loaded yet")
    return ReadyOut(status="ready", model=model_ref(model))
