"""Dependencies shared by the routes: settings, the loaded model, the API-key check and the caller's role.

They are ``async def``: none of them blocks, and FastAPI runs a plain ``def`` dependency in a worker thread —
a thread hop per dependency per request, eight on ``POST /v1/classify``.
"""
from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from triage import Predictor

from .config import Settings
from .errors import forbidden, model_not_loaded, unauthorized
from .inference import Classifier, model_sha
from .roles import CAN, LOCAL, Caller, parse_key
from .schemas import ModelRef


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_model(request: Request) -> Predictor:
    """The model loaded at start-up, or a 503 ``model_not_loaded`` that says why it is missing."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        raise model_not_loaded(getattr(request.app.state, "model_error", None) or "not loaded yet")
    return model


async def get_classifier(request: Request) -> Classifier:
    return request.app.state.classifier


def model_ref(model: Predictor) -> ModelRef:
    manifest = getattr(model, "manifest", None) or {}
    return ModelRef(name=str(manifest.get("name", "?")), sha256=model_sha(model)[:12])


_bearer = HTTPBearer(auto_error=False, description="one of the keys in TRIAGE_API_KEYS (only when it is set)")


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """When API keys are configured, accept only ``Authorization: Bearer <one of them>`` (401 otherwise).

    Returns the :class:`Caller` the key names (``role:name:key`` entries; a bare key is an admin), also kept
    in ``request.state.caller``; with no keys configured every caller is ``local``, an admin."""
    keys = request.app.state.settings.api_keys
    if not keys:
        request.state.caller = LOCAL
        return LOCAL
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    given = credentials.credentials.encode()
    found: Caller | None = None
    for entry in keys:  # no early exit: time does not tell which key came close
        role, name, key = parse_key(entry.get_secret_value())
        if hmac.compare_digest(given, key.encode()):
            found = Caller(name, role)
    if found is None:
        raise unauthorized()
    request.state.caller = found
    return found


def require_role(action: str):
    """A dependency that returns the :class:`Caller` if its role may do ``action`` (``read``, ``write``,
    ``admin``; see :data:`service.roles.CAN`), else 403 ``forbidden``."""
    allowed = CAN[action]

    async def check(caller: Annotated[Caller, Depends(require_api_key)]) -> Caller:
        if caller.role not in allowed:
            raise forbidden(caller.role, action)
        return caller

    return check


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[Predictor, Depends(get_model)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
