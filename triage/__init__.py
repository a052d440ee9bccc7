"""triage: route Chinese complaint letters by work-style category and responsible unit.

>>> from triage import load_model                      # doctest: +SKIP
>>> load_model().classify("东坝派出所办户口等了一上午窗口没人").unit  # doctest: +SKIP
'police'
"""
from __future__ import annotations

from pathlib import Path

from .errors import (
    DataError,
    InputTextError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    TriageError,
)
from .model import Prediction, TriageModel

__all__ = [
    "load_model",
    "TriageModel",
    "Prediction",
    "TriageError",
    "InputTextError",
    "DataError",
    "ModelError",
    "ModelNotFoundError",
    "ModelIntegrityError",
]


def load_model(path: str | Path | None = None) -> TriageModel:
    """Load a verified model (default: ``$TRIAGE_MODEL_DIR`` or ``models/default``).

    The returned model carries its manifest as ``model.manifest``.
    """
    from .artifacts import load
    from .paths import default_model_dir

    directory = path or default_model_dir()
    model, manifest = load(directory)
    if not isinstance(model, TriageModel):
        raise ModelIntegrityError(f"{directory} holds a {type(model).__name__}, not a triage model; retrain it.")
    model.manifest = manifest
    return model
