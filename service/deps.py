"""Dependencies shared by the routes: settings, the loaded model, and the API-key check."""
from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from triage import TriageModel

from .config import Settings
from .errors import model_not_loaded, unauthorized
from .inference import Classifier
from .schemas import ModelRef


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_model(request: Request) -> TriageModel:
    """The model loaded at start-up, or a 503 ``model_not_loaded`` that says why it is missing."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise model_not_loaded(getattr(request.app.state, "model_error", None) or "not loaded yet")
    return model


def get_classifier(request: Request) -> Classifier:
    return request.app.state.classifier


def model_ref(model: TriageModel) -> ModelRef:
    manifest = getattr(model, "manifest", None) or {}
    return ModelRef(name=str(manifest.get("name", "?")), sha256=str(manifest.get("artifact", {}).get("sha256", ""))[:12])


_bearer = HTTPBearer(auto_error=False, description="one of the keys in TRIAGE_API_KEYS (only when it is set)")


def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """When API keys are configured, accept only ``Authorization: Bearer <one of them>`` (401 otherwise)."""
    keys = request.app.state.settings.api_keys
    if not keys:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    given = credentials.credentials.encode()
    ok = False
    for key in keys:  # no early exit: time does not tell which key came close
        ok |= hmac.compare_digest(given, key.get_secret_value().encode())
    if not ok:
        raise unauthorized()


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[TriageModel, Depends(get_model)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
